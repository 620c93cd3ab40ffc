// Failed-PIN budgets that do not depend on the caller ID, on an injected clock.
#include <catch2/catch.hpp>

#include "net/source_key.h"
#include "proxy/callers/pin_budget.h"

using namespace callproxy::proxy;
namespace net = callproxy::net;
using namespace std::chrono_literals;

namespace {

PinBudgetPolicy policy(unsigned global, unsigned per_source, std::size_t max_sources = 100) {
  return PinBudgetPolicy{global, per_source, 60s, max_sources};
}

}  // namespace

TEST_CASE("the global budget refuses once spent, trips once, and renews with the window", "[callers][budget]") {
  PinFailureBudgets budgets(policy(3, 0));
  const auto t0 = PinFailureBudgets::Clock::now();
  for (int i = 0; i < 3; ++i) CHECK_FALSE(budgets.admit("", t0 + std::chrono::seconds(i)).refused);
  const auto first = budgets.admit("", t0 + 10s);
  REQUIRE(first.refused);
  CHECK(*first.refused == PinBudget::global);
  CHECK(first.tripped);
  const auto second = budgets.admit("", t0 + 20s);
  CHECK(second.refused);
  CHECK_FALSE(second.tripped);  // one log line per window, not one per request
  // The window runs from the first failure: 60 s later it starts again.
  CHECK(budgets.admit("", t0 + 59s).refused);
  const auto renewed = budgets.admit("", t0 + 60s);
  CHECK_FALSE(renewed.refused);
  CHECK(renewed.ticket.global);
}

TEST_CASE("a check is taken from the budget before it is made and given back unless it failed", "[callers][budget]") {
  PinFailureBudgets budgets(policy(2, 0));
  const auto t0 = PinFailureBudgets::Clock::now();
  // Right PINs (refunded) never spend the budget.
  for (int i = 0; i < 10; ++i) budgets.refund(budgets.admit("", t0).ticket);
  // Two checks in flight hold the whole budget: a third is refused before either has failed.
  const auto a = budgets.admit("", t0);
  const auto b = budgets.admit("", t0);
  CHECK_FALSE(a.refused);
  CHECK_FALSE(b.refused);
  CHECK(budgets.admit("", t0).refused);
  budgets.refund(a.ticket);
  CHECK_FALSE(budgets.admit("", t0).refused);

  // A refund into a window that is over does not lend the new one a failure.
  PinFailureBudgets one(policy(1, 0));
  const auto old = one.admit("", t0);
  CHECK_FALSE(one.admit("", t0 + 60s).refused);
  one.refund(old.ticket);
  CHECK(one.admit("", t0 + 61s).refused);
}

TEST_CASE("a source's budget is its own and no source means the global budget only", "[callers][budget]") {
  PinFailureBudgets budgets(policy(100, 2));
  const auto t0 = PinFailureBudgets::Clock::now();
  CHECK_FALSE(budgets.admit("10.0.0.1", t0).refused);
  CHECK_FALSE(budgets.admit("10.0.0.1", t0).refused);
  const auto spent = budgets.admit("10.0.0.1", t0);
  REQUIRE(spent.refused);
  CHECK(*spent.refused == PinBudget::source);
  CHECK(spent.tripped);
  CHECK_FALSE(budgets.admit("10.0.0.1", t0).tripped);
  CHECK_FALSE(budgets.admit("10.0.0.2", t0).refused);
  for (int i = 0; i < 5; ++i) CHECK_FALSE(budgets.admit("", t0).refused);
  CHECK_FALSE(budgets.admit("10.0.0.1", t0 + 60s).refused);

  // The global budget is checked first.
  PinFailureBudgets small(policy(1, 5));
  CHECK_FALSE(small.admit("10.0.0.1", t0).refused);
  CHECK(*small.admit("10.0.0.2", t0).refused == PinBudget::global);
}

TEST_CASE("the source table stays bounded: expired and empty entries go first, then new sources go untracked",
          "[callers][budget]") {
  PinFailureBudgets budgets(policy(0, 5, 3));
  const auto t0 = PinFailureBudgets::Clock::now();
  const auto a = budgets.admit("10.0.0.1", t0);
  budgets.admit("10.0.0.2", t0);
  budgets.admit("10.0.0.3", t0);
  CHECK(budgets.tracked_sources() == 3);
  // Full of live sources: the fourth is let through (the global budget holds it) but not tracked.
  const auto untracked = budgets.admit("10.0.0.4", t0);
  CHECK_FALSE(untracked.refused);
  CHECK(untracked.ticket.source.empty());
  CHECK(budgets.tracked_sources() == 3);
  // A source whose checks were all given back holds nothing and makes room.
  budgets.refund(a.ticket);
  CHECK(budgets.admit("10.0.0.5", t0).ticket.source == "10.0.0.5");
  CHECK(budgets.tracked_sources() == 3);
  // Once their window is over, entries are pruned.
  CHECK(budgets.admit("10.0.0.6", t0 + 60s).ticket.source == "10.0.0.6");
  CHECK(budgets.tracked_sources() == 1);
}

// A full table of live sources is walked again only once its oldest window can be over; the walks
// it skips must not keep an expired source's place from a new one a moment too long.
TEST_CASE("a full source table makes room as each oldest window ends, not later", "[callers][budget]") {
  PinFailureBudgets budgets(policy(0, 5, 3));
  const auto t0 = PinFailureBudgets::Clock::now();
  budgets.admit("10.0.0.1", t0);
  budgets.admit("10.0.0.2", t0 + 10s);
  budgets.admit("10.0.0.3", t0 + 20s);
  CHECK(budgets.admit("10.0.0.4", t0 + 30s).ticket.source.empty());
  CHECK(budgets.admit("10.0.0.5", t0 + 59s).ticket.source.empty());
  CHECK(budgets.admit("10.0.0.6", t0 + 60s).ticket.source == "10.0.0.6");  // .1's window is over
  CHECK(budgets.admit("10.0.0.7", t0 + 65s).ticket.source.empty());
  CHECK(budgets.admit("10.0.0.8", t0 + 70s).ticket.source == "10.0.0.8");  // .2's
  CHECK(budgets.tracked_sources() == 3);
  // A refund to nothing makes room at once, whatever the windows.
  const auto nine = budgets.admit("10.0.0.9", t0 + 80s);
  CHECK(nine.ticket.source == "10.0.0.9");  // .3's window ended at 80 s
  budgets.refund(nine.ticket);
  CHECK(budgets.admit("10.0.0.10", t0 + 81s).ticket.source == "10.0.0.10");
}

TEST_CASE("source keys: IPv4 as it is, IPv6 by its /64", "[callers][budget][net]") {
  CHECK(net::source_key("203.0.113.7") == "203.0.113.7");
  CHECK(net::source_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64");
  CHECK(net::source_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64");
  CHECK(net::source_key("::1") == "::/64");
  CHECK(net::source_key("") == "");
}
