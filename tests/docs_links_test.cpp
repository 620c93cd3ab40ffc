// The docs' relative links: every link and image in README.md, CONTRIBUTING.md, docs/*.md and
// bench/README.md that names a file of this repository must name one that exists, and a
// `#anchor` must be one a heading of the target file produces on GitHub (lowercase, spaces to
// '-', punctuation other than '-' and '_' dropped; a repeated heading gets -1, -2, …). The docs
// were one README cut into pages; this is what keeps the cross-references between them whole.
// Links to other sites (a scheme such as https:) are not followed; links inside code (fenced
// blocks and `code spans`) are text, not links.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "test_data.h"

namespace fs = std::filesystem;
using callproxy::test::read_file;

namespace {

const fs::path kSource = CALLPROXY_SOURCE_DIR;

bool is_fence(std::string_view line) {
  auto start = line.find_first_not_of(' ');
  if (start == std::string_view::npos) return false;
  line.remove_prefix(start);
  return line.starts_with("```") || line.starts_with("~~~");
}

// Fenced code blocks blanked out (their newlines kept, so offsets still give line numbers).
std::string without_fences(const std::string& markdown) {
  std::string out;
  bool fenced = false;
  std::size_t begin = 0;
  while (begin <= markdown.size()) {
    auto end = markdown.find('\n', begin);
    if (end == std::string::npos) end = markdown.size();
    std::string_view line(markdown.data() + begin, end - begin);
    bool fence = is_fence(line);
    if (fence) fenced = !fenced;
    if (fence || fenced) out.append(line.size(), ' ');
    else out.append(line);
    if (end < markdown.size()) out.push_back('\n');
    begin = end + 1;
  }
  return out;
}

// Code spans blanked out: a run of N backticks up to the next run of exactly N (which may be on a
// later line); an opening run without its closing one is literal text.
std::string without_code_spans(std::string text) {
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] != '`') {
      ++i;
      continue;
    }
    std::size_t run = text.find_first_not_of('`', i);
    if (run == std::string::npos) break;
    std::size_t n = run - i;
    std::size_t close = run;
    bool found = false;
    while ((close = text.find('`', close)) != std::string::npos) {
      std::size_t close_end = text.find_first_not_of('`', close);
      if (close_end == std::string::npos) close_end = text.size();
      if (close_end - close == n) {
        found = true;
        break;
      }
      close = close_end;
    }
    if (!found) {
      i = run;
      continue;
    }
    for (std::size_t k = i; k < close + n; ++k)
      if (text[k] != '\n') text[k] = ' ';
    i = close + n;
  }
  return text;
}

// The anchor GitHub gives a heading's text (github-slugger): inline links keep their text,
// letters are lowercased, each space becomes '-', and every other character that is not a
// letter, a digit, '-' or '_' is dropped (in UTF-8, the punctuation blocks U+00A0..U+00BF,
// U+2000..U+206F and U+2190..U+2BFF are dropped too; other letters are kept as they are).
std::string github_slug(std::string heading) {
  heading = std::regex_replace(heading, std::regex(R"(!?\[([^\]]*)\]\([^)]*\))"), "$1");
  std::string slug;
  for (std::size_t i = 0; i < heading.size();) {
    auto c = static_cast<unsigned char>(heading[i]);
    if (c < 0x80) {
      if (c >= 'A' && c <= 'Z') slug.push_back(static_cast<char>(c - 'A' + 'a'));
      else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')
        slug.push_back(static_cast<char>(c));
      else if (c == ' ') slug.push_back('-');
      ++i;
      continue;
    }
    std::size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    len = std::min(len, heading.size() - i);
    char32_t cp = len == 1 ? c : c & (0x7F >> len);
    for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(heading[i + k]) & 0x3F);
    bool punctuation = (cp >= 0xA0 && cp <= 0xBF) || (cp >= 0x2000 && cp <= 0x206F) || (cp >= 0x2190 && cp <= 0x2BFF);
    if (!punctuation) slug.append(heading, i, len);
    i += len;
  }
  return slug;
}

// Every anchor a markdown file's ATX headings (`#` to `######`, outside fenced code) produce, in
// order, a repeated slug numbered as GitHub numbers it.
std::vector<std::string> markdown_anchors(const std::string& markdown) {
  static const std::regex heading(R"(^ {0,3}#{1,6}(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$)");
  std::vector<std::string> anchors;
  std::map<std::string, int> taken;
  std::istringstream lines(without_fences(markdown));
  std::string line;
  while (std::getline(lines, line)) {
    std::smatch m;
    if (!std::regex_match(line, m, heading)) continue;
    std::string slug = github_slug(m[1].str());
    if (taken.contains(slug)) {
      std::string numbered;
      do numbered = slug + "-" + std::to_string(++taken[slug]);
      while (taken.contains(numbered));
      slug = numbered;
    }
    taken[slug] = 0;
    anchors.push_back(slug);
  }
  return anchors;
}

struct DocLink {
  int line;
  std::string target;
};

// The link targets of a markdown file: inline links and images `[text](target)` (the text may
// span lines) and reference definitions `[name]: target`, outside fenced code and code spans.
std::vector<DocLink> markdown_links(const std::string& markdown) {
  std::string text = without_code_spans(without_fences(markdown));
  std::vector<DocLink> links;
  auto line_of = [&](std::size_t offset) {
    return 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(offset), '\n'));
  };
  static const std::regex inline_link(R"(\]\(\s*<?([^()\s<>]*)>?(?:\s+"[^"]*")?\s*\))");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), inline_link); it != std::sregex_iterator(); ++it)
    links.push_back({line_of(static_cast<std::size_t>(it->position(0))), (*it)[1].str()});
  static const std::regex reference(R"((?:^|\n) {0,3}\[[^\]\n]+\]:[ \t]*<?([^\s<>]+)>?)");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), reference); it != std::sregex_iterator(); ++it)
    links.push_back({line_of(static_cast<std::size_t>(it->position(1))), (*it)[1].str()});
  return links;
}

// What is wrong with each relative link of `file`, one line each ("README.md:12: docs/x.md: no
// such file"); empty when every link resolves.
std::vector<std::string> broken_links(const fs::path& file) {
  std::string markdown = read_file(file.string());
  std::vector<std::string> broken;
  static const std::regex scheme(R"(^[A-Za-z][A-Za-z0-9+.-]*:)");
  for (const auto& link : markdown_links(markdown)) {
    auto where = file.filename().string() + ":" + std::to_string(link.line) + ": " + link.target + ": ";
    if (link.target.empty()) {
      broken.push_back(where + "empty link");
      continue;
    }
    if (std::regex_search(link.target, scheme)) continue;  // another site (https:, mailto:, …)
    auto hash = link.target.find('#');
    std::string path = link.target.substr(0, hash);
    std::string anchor = hash == std::string::npos ? "" : link.target.substr(hash + 1);
    fs::path target = path.empty() ? file : (file.parent_path() / path).lexically_normal();
    if (!fs::exists(target)) {
      broken.push_back(where + "no such file or directory " + target.string());
      continue;
    }
    if (hash == std::string::npos) continue;
    if (!fs::is_regular_file(target) || target.extension() != ".md") {
      broken.push_back(where + "an anchor into what is not a markdown file");
      continue;
    }
    auto anchors = markdown_anchors(read_file(target.string()));
    if (std::find(anchors.begin(), anchors.end(), anchor) == anchors.end())
      broken.push_back(where + "no heading in " + target.filename().string() + " makes the anchor #" + anchor);
  }
  return broken;
}

// The markdown files whose links are checked: the README, CONTRIBUTING.md, every docs/ page and
// the bench's README.
std::vector<fs::path> doc_files() {
  std::vector<fs::path> files{kSource / "README.md", kSource / "CONTRIBUTING.md", kSource / "bench" / "README.md"};
  for (const auto& entry : fs::directory_iterator(kSource / "docs"))
    if (entry.path().extension() == ".md") files.push_back(entry.path());
  std::sort(files.begin() + 3, files.end());
  return files;
}

// A directory under /tmp for one test, removed with everything in it when the test ends.
struct TempDir {
  TempDir() : path(callproxy::test::temp_path("docs")) { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  void write(const std::string& name, const std::string& text) const { std::ofstream(path / name) << text; }
  fs::path path;
};

}  // namespace

TEST_CASE("heading anchors follow GitHub's slug rules", "[docs]") {
  CHECK(github_slug("Quick start (Debian 12)") == "quick-start-debian-12");
  CHECK(github_slug("`callproxy serve`") == "callproxy-serve");
  CHECK(github_slug("Connections, deadlines and limits") == "connections-deadlines-and-limits");
  CHECK(github_slug("State store (`--store`)") == "state-store---store");
  CHECK(github_slug("Fairness: `bench/run --fairness`") == "fairness-benchrun---fairness");
  CHECK(github_slug("Issue 9's targets and the Node service") == "issue-9s-targets-and-the-node-service");
  CHECK(github_slug("snake_case and kebab-case") == "snake_case-and-kebab-case");
  CHECK(github_slug("See [the flags](configuration.md#flags) here") == "see-the-flags-here");
  CHECK(github_slug("Caf\xC3\xA9 \xE2\x80\x94 open") == "caf\xC3\xA9--open");  // an em dash is punctuation

  // Repeated headings are numbered; a heading inside a fenced block is code, not a heading;
  // closing hashes are not part of the text.
  CHECK(markdown_anchors("# A\n## A\n### A\n## A-1 ##\n") == std::vector<std::string>{"a", "a-1", "a-2", "a-1-1"});
  CHECK(markdown_anchors("# Top\n```sh\n# a shell comment\n```\n   ```\n# indented fence\n   ```\n#not-a-heading\n") ==
        std::vector<std::string>{"top"});
}

TEST_CASE("a link to a missing file or to an anchor no heading makes is reported", "[docs]") {
  TempDir dir;
  fs::create_directories(dir.path / "docs");
  dir.write("docs/page.md", "# A page\n\n## Flags\n\n## Flags\n");
  dir.write("README.md", "# Read me\n"
                         "[fine](docs/page.md) [fine anchor](docs/page.md#flags) [second](docs/page.md#flags-1)\n"
                         "[here](#read-me) ![image](docs/) [web](https://example.com/x.md#nowhere)\n"
                         "[a link whose text\nspans lines](docs/page.md#a-page)\n"
                         "`[in code](missing-in-code.md)`\n"
                         "```\n[in a fence](missing-in-fence.md)\n```\n"
                         "[missing file](docs/gone.md)\n"
                         "[missing anchor](docs/page.md#flags-2)\n"
                         "[missing local anchor](#nowhere)\n");
  auto broken = broken_links(dir.path / "README.md");
  INFO("broken: " << Catch::Detail::stringify(broken));
  REQUIRE(broken.size() == 3);
  CHECK(broken[0].starts_with("README.md:10: docs/gone.md: no such file"));
  CHECK(broken[1] == "README.md:11: docs/page.md#flags-2: no heading in page.md makes the anchor #flags-2");
  CHECK(broken[2] == "README.md:12: #nowhere: no heading in README.md makes the anchor #nowhere");

  // The same file with its links mended is clean.
  dir.write("README.md", "# Read me\n[fine](docs/page.md#flags) [here](#read-me)\n");
  CHECK(broken_links(dir.path / "README.md").empty());
}

TEST_CASE("every relative link and anchor in the docs resolves", "[docs]") {
  auto files = doc_files();
  REQUIRE(files.size() > 3);  // docs/ has pages
  std::size_t links = 0;
  for (const auto& file : files) {
    INFO(file.string());
    REQUIRE(fs::is_regular_file(file));
    links += markdown_links(read_file(file.string())).size();
    auto broken = broken_links(file);
    for (const auto& problem : broken) FAIL_CHECK(problem);
  }
  CHECK(links > 40);  // the links were found, not passed over (the docs hold some 60)
}

TEST_CASE("every docs/ page is reachable from the README in one hop", "[docs]") {
  std::string readme = read_file((kSource / "README.md").string());
  for (const auto& entry : fs::directory_iterator(kSource / "docs")) {
    if (entry.path().extension() != ".md") continue;
    std::string link = "](docs/" + entry.path().filename().string();
    INFO("README.md links to " << link.substr(2));
    CHECK(readme.find(link) != std::string::npos);
  }
}
