// The secrets tests hand to serve, in one place. When a serve child ends, its captured stderr is
// searched for each of them (child_process.cpp): a log line that leaks one fails the test that
// made serve write it. Every value is long and distinctive, so that no log line holds one by chance.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace callproxy::test::secrets {

// The admin routes' key (--api-key / SERVER_API_KEY); serve wants at least 16 characters.
inline const std::string api_key = "test-api-key-7c1e9a52b4d0";
// Twilio auth tokens: the one serve is given, and another one to forge signatures with.
inline const std::string auth_token = "test-auth-token-3f8b21d6";
inline const std::string other_auth_token = "test-other-token-9a4c7e15";
// The PINs of tests/data/test-pins.json (the second is stored there as its SHA-256), and a
// wrong PIN tests guess with (a guess may be a near miss: it is no more loggable than a PIN).
inline const std::string pin = "58203917";
inline const std::string hashed_pin = "61749053";
inline const std::string wrong_pin = "90316842";

// The secret stream tokens are made with (--stream-token-secret); tokens minted under it are
// remembered (remember()) by the tests that see them.
inline const std::string stream_token_secret = "test-stream-token-secret-5d2f8a61";

// tests/data/test-pins.json.
std::string pins_file();

// Values test support sent in a secret-bearing header (X-Twilio-Signature, apiKey) are
// remembered and searched for as well: every signature a test presents, right or wrong.
void remember(const std::string& value);
// remember() for each value of such a header among `headers` (names in any case).
void remember_headers(const std::map<std::string, std::string>& headers);

// Everything above; values shorter than 8 characters are left out of what is remembered.
std::vector<std::string> all();

// The secrets `log` shows, each with the first line that holds it ("" when none).
std::vector<std::string> leaked_in(const std::string& log);

}  // namespace callproxy::test::secrets
