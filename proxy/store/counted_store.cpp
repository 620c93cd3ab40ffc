#include "proxy/store/counted_store.h"

#include <utility>

namespace callproxy::proxy {
namespace {

class CountedStore final : public StateStore {
 public:
  CountedStore(std::unique_ptr<StateStore> store, Counter& errors) : store_(std::move(store)), errors_(errors) {}

  std::string describe() const override { return store_->describe(); }
  void mark_connected(const std::string& execution_id, const std::string& owner, MarkUpdate update,
                      std::chrono::milliseconds ttl, std::function<void(StoreResult<Done>)> done) override {
    store_->mark_connected(execution_id, owner, update, ttl, counted(std::move(done)));
  }
  void clear_connected(const std::string& execution_id, const std::string& owner,
                       std::function<void(StoreResult<Done>)> done) override {
    store_->clear_connected(execution_id, owner, counted(std::move(done)));
  }
  void is_connected(const std::string& execution_id, std::function<void(StoreResult<bool>)> done) override {
    store_->is_connected(execution_id, counted(std::move(done)));
  }
  void claim_stream_token(const std::string& token_id, std::chrono::milliseconds ttl,
                          std::function<void(StoreResult<bool>)> done) override {
    store_->claim_stream_token(token_id, ttl, counted(std::move(done)));
  }
  void caller(const std::string& id, std::function<void(StoreResult<CallerState>)> done) override {
    store_->caller(id, counted(std::move(done)));
  }
  void record_failure(const std::string& id, const AttemptPolicy& policy,
                      std::function<void(StoreResult<CallerState>)> done) override {
    store_->record_failure(id, policy, counted(std::move(done)));
  }
  void clear_attempts(const std::string& id, std::function<void(StoreResult<Done>)> done) override {
    store_->clear_attempts(id, counted(std::move(done)));
  }
  void block(const std::string& id, std::function<void(StoreResult<CallerState>)> done) override {
    store_->block(id, counted(std::move(done)));
  }
  void unblock(const std::string& id, std::function<void(StoreResult<bool>)> done) override {
    store_->unblock(id, counted(std::move(done)));
  }
  void blocked_callers(std::function<void(StoreResult<std::vector<CallerState>>)> done) override {
    store_->blocked_callers(counted(std::move(done)));
  }
  void put_value(const std::string& key, const std::string& value, std::chrono::milliseconds ttl,
                 std::function<void(StoreResult<Done>)> done) override {
    store_->put_value(key, value, ttl, counted(std::move(done)));
  }
  void get_value(const std::string& key, bool remove,
                 std::function<void(StoreResult<std::optional<std::string>>)> done) override {
    store_->get_value(key, remove, counted(std::move(done)));
  }
  void increment(const std::string& key, std::chrono::milliseconds ttl,
                 std::function<void(StoreResult<long long>)> done) override {
    store_->increment(key, ttl, counted(std::move(done)));
  }
  // A diagnostic Redis refuses by design: not a failure of the store.
  void count_records(std::function<void(StoreResult<RecordCounts>)> done) override {
    store_->count_records(std::move(done));
  }

 private:
  template <class T>
  std::function<void(StoreResult<T>)> counted(std::function<void(StoreResult<T>)> done) {
    return [&errors = errors_, done = std::move(done)](StoreResult<T> result) {
      if (!result) errors.add();
      done(std::move(result));
    };
  }

  std::unique_ptr<StateStore> store_;
  Counter& errors_;
};

}  // namespace

std::unique_ptr<StateStore> count_store_errors(std::unique_ptr<StateStore> store, Counter& errors) {
  return std::make_unique<CountedStore>(std::move(store), errors);
}

}  // namespace callproxy::proxy
