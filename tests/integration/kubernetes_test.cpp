// The Kubernetes manifests (assets/deploy/kubernetes/) against the binary they run: the probes'
// paths answer on serve's port, the grace period outlasts serve's drain, the Service and the
// PodDisruptionBudget select the Deployment's pods, every variable set is one serve reads (and
// serve starts with them), secrets come from a Secret, and the pod runs as the image's user.
// The YAML is read by Debian's python3 and PyYAML (scripts/install-deps.sh test), as JSON.
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "support/child_process.h"
#include "support/http_client.h"
#include "support/test_secrets.h"
#include "test_data.h"

using namespace callproxy;
using json = nlohmann::json;

namespace {

const std::string kubernetes_dir = std::string(CALLPROXY_ASSETS) + "/deploy/kubernetes";
const std::string python = "/usr/bin/python3";

bool have_pyyaml() {
  return ::access(python.c_str(), X_OK) == 0 && test::run_command({python, "-c", "import yaml"}).exit_code == 0;
}

// Every document of the files, in order, as JSON.
std::vector<json> manifests(const std::vector<std::string>& files) {
  std::vector<std::string> args{
      python, "-c",
      "import json, sys, yaml\n"
      "docs = [d for f in sys.argv[1:] for d in yaml.safe_load_all(open(f)) if d is not None]\n"
      "print(json.dumps(docs))\n"};
  for (const auto& file : files) args.push_back(kubernetes_dir + "/" + file);
  const auto read = test::run_command(args);
  if (read.exit_code != 0) throw std::runtime_error("the manifests do not parse as YAML: " + read.err);
  return json::parse(read.out).get<std::vector<json>>();
}

const json& find_kind(const std::vector<json>& docs, const std::string& kind, const std::string& name) {
  for (const auto& doc : docs) {
    if (doc.value("kind", "") == kind && doc["metadata"].value("name", "") == name) return doc;
  }
  throw std::runtime_error("no " + kind + " " + name + " in assets/deploy/kubernetes/");
}

// Whether every label `selector` asks for is on `labels`.
bool selects(const json& selector, const json& labels) {
  if (selector.empty()) return false;
  for (const auto& [key, value] : selector.items()) {
    if (!labels.contains(key) || labels[key] != value) return false;
  }
  return true;
}

// A port as a probe or a Service names it (a number, or a container port's name) as a number.
int resolve_port(const json& port, const json& container) {
  if (port.is_number()) return port.get<int>();
  for (const auto& p : container["ports"]) {
    if (p.value("name", "") == port.get<std::string>()) return p["containerPort"].get<int>();
  }
  throw std::runtime_error("no container port named " + port.dump());
}

// A `#key = value` line of `serve --print-config` (the defaults, as TOML).
std::string default_of(const std::string& config, const std::string& key) {
  std::smatch found;
  if (!std::regex_search(config, found, std::regex("\n#" + key + " = ([^\n]*)\n"))) {
    throw std::runtime_error("serve --print-config has no #" + key);
  }
  return found[1];
}

// The environment variables serve reads, from `serve --print-reference`: the table's second
// column, and the Node service's REMOTE_CACHE_ENABLED and REDIS_HOST the store's text names.
std::set<std::string> variables_serve_reads(const std::string& reference) {
  std::set<std::string> names;
  const std::regex row(R"(\n\| `[^\n|]*` \| `([A-Z0-9_]+)` \|)");
  for (auto it = std::sregex_iterator(reference.begin(), reference.end(), row); it != std::sregex_iterator(); ++it) {
    names.insert((*it)[1]);
  }
  for (const auto* node : {"REMOTE\\_CACHE\\_ENABLED", "REDIS\\_HOST"}) {
    if (reference.find(node) != std::string::npos) names.insert(std::regex_replace(node, std::regex(R"(\\)"), ""));
  }
  return names;
}

// The secrets serve takes: never a literal in a manifest.
const std::set<std::string> secret_variables{"TWILIO_AUTH_TOKEN", "SERVER_API_KEY", "REDIS_PASSWORD",
                                             "CALLPROXY_STREAM_TOKEN_SECRET"};

}  // namespace

TEST_CASE("the Kubernetes manifests agree with serve: probes, port, grace period, selectors, variables, secrets",
          "[deploy][kubernetes]") {
  if (!have_pyyaml()) {
    WARN("SKIPPED: /usr/bin/python3 with PyYAML is not installed (scripts/install-deps.sh test installs "
         "python3-yaml; CI runs this test)");
    return;
  }
  const auto docs = manifests({"callproxy.yaml", "redis.yaml"});
  const auto& deployment = find_kind(docs, "Deployment", "callproxy");
  const auto& service = find_kind(docs, "Service", "callproxy");
  const auto& pdb = find_kind(docs, "PodDisruptionBudget", "callproxy");
  const auto& pod = deployment["spec"]["template"];
  const auto& pod_labels = pod["metadata"]["labels"];
  REQUIRE(pod["spec"]["containers"].size() == 1);
  const auto& container = pod["spec"]["containers"][0];

  const auto config = test::run_command(test::callproxy_args({"serve", "--print-config"}));
  REQUIRE(config.exit_code == 0);
  const auto reference = test::run_command(test::callproxy_args({"serve", "--print-reference"}));
  REQUIRE(reference.exit_code == 0);

  SECTION(
      "the pods run serve, this version's image (scripts/container.sh's tag), on its port; the Service sends there") {
    CHECK(container["args"] == json::array({"serve"}));
    const auto version = test::run_command(test::callproxy_args({"--version"}));
    REQUIRE(version.exit_code == 0);
    const auto tag = version.out.substr(version.out.rfind(' ') + 1,
                                        version.out.find_last_not_of("\n") - version.out.rfind(' '));
    CHECK(container["image"] == "localhost/callproxy:" + tag);
    const int port = std::stoi(default_of(config.out, "port"));
    REQUIRE(container["ports"].size() == 1);
    CHECK(container["ports"][0]["containerPort"] == port);
    CHECK(selects(service["spec"]["selector"], pod_labels));
    REQUIRE(service["spec"]["ports"].size() == 1);
    CHECK(resolve_port(service["spec"]["ports"][0]["targetPort"], container) == port);
  }

  SECTION("the probes ask serve's /readyz and /healthz on its port, and serve answers them 200") {
    const auto& readiness = container["readinessProbe"]["httpGet"];
    const auto& liveness = container["livenessProbe"]["httpGet"];
    CHECK(readiness["path"] == "/readyz");
    CHECK(liveness["path"] == "/healthz");
    const int port = std::stoi(default_of(config.out, "port"));
    CHECK(resolve_port(readiness["port"], container) == port);
    CHECK(resolve_port(liveness["port"], container) == port);
    auto serve = test::start_serve();
    for (const auto& probe : {readiness, liveness}) {
      INFO(probe["path"]);
      CHECK(test::http_request(serve.port, "GET", probe["path"].get<std::string>()).status == 200);
    }
  }

  SECTION("the grace period outlasts serve's drain, so SIGKILL never cuts a draining call") {
    // The drain timeout the pods get: the manifest's CALLPROXY_DRAIN_TIMEOUT, else serve's default.
    double drain = std::stod(default_of(config.out, "drain-timeout"));
    for (const auto& env : container["env"]) {
      if (env["name"] == "CALLPROXY_DRAIN_TIMEOUT") drain = std::stod(env["value"].get<std::string>());
    }
    // The grace period runs from the preStop hook: a sleep before SIGTERM counts against it.
    double pre_stop = 0;
    if (container.contains("lifecycle")) {
      const auto& command = container["lifecycle"]["preStop"]["exec"]["command"];
      REQUIRE(command.size() == 2);
      REQUIRE(command[0] == "sleep");
      pre_stop = std::stod(command[1].get<std::string>());
    }
    INFO("drain timeout " << drain << " s, preStop " << pre_stop << " s");
    // serve exits up to 2 s after its drain timeout (what lingers closes).
    CHECK(pod["spec"]["terminationGracePeriodSeconds"].get<double>() > pre_stop + drain + 2);
    // A probe answered late is not a dead process: a liveness timeout of at least a few seconds.
    CHECK(container["livenessProbe"].value("timeoutSeconds", 1) >= 3);
  }

  SECTION("the Deployment and the PodDisruptionBudget select the pods, and a disruption leaves one") {
    CHECK(selects(deployment["spec"]["selector"]["matchLabels"], pod_labels));
    CHECK(selects(pdb["spec"]["selector"]["matchLabels"], pod_labels));
    CHECK(pdb["spec"]["minAvailable"].get<int>() >= 1);
    CHECK(pdb["spec"]["minAvailable"].get<int>() < deployment["spec"]["replicas"].get<int>());
    // The Redis pods are not selected by callproxy's Service or budget.
    const auto& redis = find_kind(docs, "Deployment", "callproxy-redis");
    CHECK_FALSE(selects(service["spec"]["selector"], redis["spec"]["template"]["metadata"]["labels"]));
    CHECK_FALSE(selects(pdb["spec"]["selector"]["matchLabels"], redis["spec"]["template"]["metadata"]["labels"]));
  }

  SECTION("every variable is one serve reads, secrets come from a Secret, the store is the Redis Service") {
    const auto reads = variables_serve_reads(reference.out);
    REQUIRE(reads.count("AUDIO_PROXY_PORT") == 1);
    REQUIRE(reads.count("REDIS_HOST") == 1);
    std::set<std::string> set;
    for (const auto& env : container["env"]) {
      const auto name = env["name"].get<std::string>();
      INFO(name);
      set.insert(name);
      CHECK(reads.count(name) == 1);
      if (secret_variables.count(name) == 1) {
        CHECK_FALSE(env.contains("value"));
        CHECK((env.contains("valueFrom") && env["valueFrom"].contains("secretKeyRef")));
      } else {
        CHECK(env.contains("value"));
      }
    }
    for (const auto* name : {"TWILIO_AUTH_TOKEN", "SERVER_API_KEY", "CALLPROXY_STORE", "VALIDATE_EXTERNAL_CALLS"}) {
      INFO(name);
      CHECK(set.count(name) == 1);
    }
    std::string store;
    for (const auto& env : container["env"]) {
      if (env["name"] == "CALLPROXY_STORE") store = env["value"];
    }
    const auto& redis_service = find_kind(docs, "Service", "callproxy-redis");
    CHECK(store == "redis://callproxy-redis:" + std::to_string(redis_service["spec"]["ports"][0]["port"].get<int>()));
    CHECK(container.value("envFrom", json::array()).empty());  // every variable is named here
  }

  SECTION("serve starts with the manifest's variables (secrets, store and PINs given by the test)") {
    test::EnvChanges env;
    for (const auto& entry : container["env"]) {
      if (entry.contains("value")) env[entry["name"]] = entry["value"].get<std::string>();
    }
    env["TWILIO_AUTH_TOKEN"] = test::secrets::auth_token;
    env["SERVER_API_KEY"] = test::secrets::api_key;
    // Flags win over the variables: the test's store, PINs and loopback port.
    auto serve = test::start_serve({"--store", "memory", "--pins-file", test::secrets::pins_file()}, env);
    CHECK(test::http_request(serve.port, "GET", "/readyz").status == 200);
    serve.process->signal(SIGTERM);
    CHECK(serve.process->wait() == 0);
    CHECK(serve.process->err().find("\"level\"") != std::string::npos);  // LOG_FORMAT=json was read
  }

  SECTION("the pods run as the image's non-root user, on a read-only root, with no privileges") {
    const auto containerfile = test::read_file(std::string(CALLPROXY_ASSETS) + "/deploy/container/Containerfile");
    std::smatch user;
    REQUIRE(std::regex_search(containerfile, user, std::regex(R"(\nUSER ([0-9]+):([0-9]+)\n)")));
    const auto& security = pod["spec"]["securityContext"];
    CHECK(security["runAsNonRoot"] == true);
    CHECK(security["runAsUser"] == std::stoi(user[1]));
    CHECK(security["runAsGroup"] == std::stoi(user[2]));
    const auto& own = container["securityContext"];
    CHECK(own["readOnlyRootFilesystem"] == true);
    CHECK(own["allowPrivilegeEscalation"] == false);
    CHECK(own["capabilities"]["drop"] == json::array({"ALL"}));
  }
}
