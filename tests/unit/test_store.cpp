#include <SQLiteCpp/SQLiteCpp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <span>
#include <set>

#include "e911/durable_file.hpp"
#include "e911/error.hpp"
#include "e911/store.hpp"
#include "helpers.hpp"

using namespace e911;

namespace {
const Kind& K(const char* noun) { return kind_by_noun(noun); }
Json loc(const std::string& id, const std::string& city = "Redmond") {
  return {{"id", id}, {"house_number", "1"}, {"street_name", "Main"}, {"city", city}, {"state", "WA"}, {"country", "US"}};
}
std::int64_t write(Store& s, const std::function<void(Writer&)>& fn) {
  Writer w(s, "test");
  fn(w);
  return w.commit();
}
}  // namespace

TEST_CASE("a new store holds the global location and voice policies as revision 1") {
  TempDb t;
  auto s = Store::open(t.path, true);
  CHECK(s->head() == 1);
  // Every migration under schemas/sql (NNN_name.sql) has run: the version is the highest NNN.
  int newest = 0;
  for (const auto& f : std::filesystem::directory_iterator(std::string(E911_SOURCE_DIR) + "/schemas/sql"))
    if (f.path().extension() == ".sql") newest = std::max(newest, std::stoi(f.path().filename().string()));
  CHECK(s->schema_version() == newest);
  REQUIRE(s->get(K("policy"), "global"));
  REQUIRE(s->get(K("voicepolicy"), "global"));
  CHECK(s->history()[0].command == "e911ctl init");
}

TEST_CASE("a missing database is refused for reading") {
  TempDb t;
  CHECK_THROWS_AS(Store::open(t.file("none.db"), false), Error);
}

TEST_CASE("each write is one revision; writing the same again is none") {
  TempDb t;
  auto s = Store::open(t.path, true);
  CHECK(write(*s, [](Writer& w) { CHECK(w.put(K("location"), loc("a")) == ChangeType::added); }) == 2);
  CHECK(write(*s, [](Writer& w) { CHECK_FALSE(w.put(K("location"), loc("a"))); }) == 0);
  CHECK(s->head() == 2);
  CHECK(write(*s, [](Writer& w) { CHECK(w.put(K("location"), loc("a", "Austin")) == ChangeType::changed); }) == 3);
  CHECK(s->get(K("location"), "a")->at("city") == "Austin");
  const auto h = s->history();
  REQUIRE(h.size() == 3);
  CHECK(h[0].summary == "location ~1");
  CHECK(h[1].summary == "location +1");
}

TEST_CASE("diff and restore read any past revision") {
  TempDb t;
  auto s = Store::open(t.path, true);
  write(*s, [](Writer& w) {
    w.put(K("location"), loc("a"));
    w.put(K("location"), loc("b"));
  });  // 2
  write(*s, [](Writer& w) {
    w.put(K("location"), loc("a", "Austin"));
    w.remove(K("location"), "b");
    w.put(K("location"), loc("c"));
  });  // 3
  const auto d = s->diff(2, 3);
  REQUIRE(d.size() == 3);
  CHECK((d[0].key == "a" && d[0].type == ChangeType::changed && d[0].before["city"] == "Redmond" && d[0].after["city"] == "Austin"));
  CHECK((d[1].key == "b" && d[1].type == ChangeType::removed));
  CHECK((d[2].key == "c" && d[2].type == ChangeType::added));
  const auto back = s->diff(3, 2);
  CHECK(back[1].type == ChangeType::added);

  CHECK(write(*s, [](Writer& w) { w.restore(2); }) == 4);
  CHECK(s->get(K("location"), "a")->at("city") == "Redmond");
  CHECK(s->get(K("location"), "b"));
  CHECK_FALSE(s->get(K("location"), "c"));
  CHECK(s->diff(2, 4).empty());
  // Restoring the state that is already current changes nothing.
  CHECK(write(*s, [](Writer& w) { w.restore(4); }) == 0);
}

TEST_CASE("references must name existing objects, and used objects cannot go") {
  TempDb t;
  auto s = Store::open(t.path, true);
  {
    Writer w(*s, "test");
    w.put(K("subnet"), Json{{"subnet", "10.0.0.0/24"}, {"location", "nowhere"}});
    const auto p = w.check_references();
    REQUIRE(p.size() == 1);
    CHECK(p[0].code == "E204");  // the rule validate reports it under: one code per problem
    CHECK(p[0].subject == "subnet '10.0.0.0/24'");
    CHECK(p[0].pointer == "/location");
    CHECK_THROWS_AS(w.commit(), Error);
  }
  CHECK(s->head() == 1);  // nothing was written
  write(*s, [](Writer& w) {
    w.put(K("location"), loc("a"));
    w.put(K("subnet"), Json{{"subnet", "10.0.0.0/24"}, {"location", "a"}});
  });
  CHECK(s->referrers(K("location"), "a") == std::vector<std::string>{"subnet '10.0.0.0/24'"});
  {
    // Rows written after others of their kind: a change of a stored subnet, and a new one. Only
    // rows this Writer wrote are checked (from the rowid its first write found), and both are.
    Writer w(*s, "test");
    w.put(K("subnet"), Json{{"subnet", "10.0.0.0/24"}, {"location", "a"}});  // unchanged: writes nothing
    CHECK_FALSE(w.dirty());
    w.put(K("subnet"), Json{{"subnet", "10.0.0.0/24"}, {"location", "gone"}});
    w.put(K("subnet"), Json{{"subnet", "10.0.1.0/24"}, {"location", "also-gone"}});
    const auto p = w.check_references();
    REQUIRE(p.size() == 2);
    CHECK(p[0].message == "'location' names location 'gone', which does not exist");
    CHECK(p[1].message == "'location' names location 'also-gone', which does not exist");
  }
  Writer w(*s, "test");
  w.remove(K("location"), "a");
  const auto p = w.check_references();
  REQUIRE(p.size() == 1);
  CHECK(p[0].code == "E204");
  CHECK(p[0].message == "location 'a' is still used by subnet '10.0.0.0/24'");
}

TEST_CASE("list references are checked too") {
  TempDb t;
  auto s = Store::open(t.path, true);
  Writer w(*s, "test");
  w.put(K("usage"), Json{{"name", "Emergency"}});
  w.put(K("route"), Json{{"name", "r"}, {"number_pattern", "^911$"}, {"pstn_usages", {"Emergency"}}, {"trunks", {"t1"}}});
  const auto p = w.check_references();
  REQUIRE(p.size() == 1);
  CHECK(p[0].message == "'trunks' names trunk 't1', which does not exist");
  CHECK(p[0].pointer == "/trunks/0");
}

namespace {
std::set<std::string> index_names(e911::Store& store) {
  std::set<std::string> out;
  SQLite::Statement q(store.db(), "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL");
  while (q.executeStep()) out.insert(q.getColumn(0).getString());
  return out;
}
}  // namespace

TEST_CASE("a bulk load drops a table's indexes and builds them again at commit", "[store][bulk]") {
  TempDb tmp;
  auto store = Store::open(tmp.path, true);
  const auto before = index_names(*store);
  const Kind& location = kind_by_noun("location");
  const std::size_t id_field = [&] {
    for (std::size_t i = 0; i < location.fields.size(); ++i)
      if (location.fields[i].name == "id") return i;
    return std::size_t(0);
  }();
  std::vector<const std::string*> values(location.fields.size(), nullptr);
  const std::string city = "Redmond";
  for (std::size_t i = 0; i < location.fields.size(); ++i)
    if (location.fields[i].name == "city") values[i] = &city;

  const std::vector<std::string> written{"id", "city"};
  SECTION("the rows and every index are there after commit") {
    Writer w(*store, "test bulk");
    w.begin_bulk(location, 20000, true, written);
    // Dropped inside the transaction: the indexes over written fields. Kept: the one over
    // rev_removed, which a load of current rows never touches, and (until a key comes out of
    // order) the one over the key.
    CHECK(index_names(*store).count("location_removed") == 1);
    CHECK(index_names(*store).count("location_key") == 1);
    for (int i = 0; i < 20000; ++i) {
      const std::string id = "bulk-" + std::to_string(i);  // bulk-10 sorts before bulk-9
      values[id_field] = &id;
      w.insert_text(location, id, values);
    }
    CHECK(index_names(*store).count("location_key") == 0);
    CHECK(w.commit() > 0);
    CHECK(index_names(*store) == before);
    CHECK(store->count(location) == 20000);
    REQUIRE(store->get(location, "bulk-19999"));
    const auto info = store->revision(store->head());
    REQUIRE(info);
    CHECK(info->summary == "location +20000");
  }
  SECTION("rows in key order, several to a statement, keep the key index all along") {
    Writer w(*store, "test bulk in order");
    w.begin_bulk(location, 20000, true, written);
    std::vector<std::string> ids;
    for (int i = 0; i < 20000; ++i) ids.push_back("bulk-" + std::string(5 - std::to_string(i).size(), '0') + std::to_string(i));
    std::vector<const std::string*> keys;
    std::vector<std::vector<const std::string*>> rows;
    for (const auto& id : ids) {
      keys.push_back(&id);
      rows.push_back(values);
      rows.back()[id_field] = &id;
    }
    for (std::size_t at = 0; at < ids.size(); at += 1000)  // 1,000 a call, as an import's batches
      w.insert_text_rows(location, std::span(keys).subspan(at, 1000), std::span(rows).subspan(at, 1000));
    CHECK(index_names(*store).count("location_key") == 1);
    CHECK(w.commit() > 0);
    CHECK(index_names(*store) == before);
    CHECK(store->count(location) == 20000);
    const auto loc = store->get(location, "bulk-12345");
    REQUIRE(loc);
    CHECK(loc->at("city") == "Redmond");
  }
  SECTION("a duplicate key the load let in fails the commit and changes nothing") {
    const auto head = store->head();
    {
      Writer w(*store, "test bulk duplicate");
      w.begin_bulk(location, 20000, true, written);
      for (int i = 0; i < 20000; ++i) {
        const std::string id = i == 19999 ? "bulk-0" : "bulk-" + std::to_string(i);
        values[id_field] = &id;
        w.insert_text(location, id, values);
      }
      CHECK_THROWS_AS(w.commit(), Error);
    }
    CHECK(store->head() == head);
    CHECK(store->count(location) == 0);
    CHECK(index_names(*store) == before);
  }
  SECTION("a small load into a large table keeps the indexes") {
    Writer w(*store, "test small");
    w.begin_bulk(location, 10, true, written);
    CHECK(index_names(*store) == before);
  }
}

TEST_CASE("a new store appears at its path, whole, only at its first commit", "[store][crash]") {
  TempDb t;
  namespace fs = std::filesystem;
  auto in_dir = [&] {
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(t.dir)) names.insert(e.path().filename().string());
    return names;
  };
  SECTION("a store never committed to leaves nothing") {
    {
      auto s = Store::open(t.path, true);
      CHECK(s->head() == 1);
      CHECK_FALSE(fs::exists(t.path));
      CHECK_THROWS_AS(Store::open(t.path, false), Error);
    }
    CHECK(in_dir().empty());
  }
  SECTION("the first commit puts it there, and a second process reads it") {
    auto s = Store::open(t.path, true);
    CHECK(write(*s, [](Writer& w) { w.put(K("location"), loc("a")); }) == 2);
    CHECK(s->path() == t.path);
    for (const auto& name : in_dir()) CHECK(name.find(".new.") == std::string::npos);
    CHECK(fs::exists(t.path));
    auto other = Store::open(t.path, false);
    CHECK(other->head() == 2);
    CHECK(other->get(K("location"), "a"));
    CHECK(write(*s, [](Writer& w) { w.put(K("location"), loc("b")); }) == 3);
    CHECK(other->head() == 3);
  }
  SECTION("a draft left by a killed process is removed; another's store is never replaced") {
    // No process has pid 2^22 + 1 (Linux's pid_max is at most 2^22).
    { std::ofstream(t.path + ".new.4194305") << "left by a killed process"; }
    auto s = Store::open(t.path, true);
    CHECK_FALSE(fs::exists(t.path + ".new.4194305"));
    { auto first = Store::open(t.path, true); first->settle(); }
    CHECK_THROWS_AS(write(*s, [](Writer& w) { w.put(K("location"), loc("a")); }), Error);
    CHECK(Store::open(t.path, false)->head() == 1);
  }
}

TEST_CASE("a SQLite file with nothing in it, as a killed creation left it, is an empty file", "[store][crash]") {
  TempDb t;
  { SQLite::Database db(t.path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE); db.exec("PRAGMA journal_mode=WAL"); }
  CHECK(std::filesystem::file_size(t.path) > 0);
  CHECK_THROWS_AS(Store::open(t.path, false), Error);
  auto s = Store::open(t.path, true);
  CHECK(s->head() == 1);
}

// Issue 14: files that can hold users' digest secrets are private whatever the umask.
namespace {
unsigned mode_of(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<unsigned>(st.st_mode & 07777) : 0xFFFFu;
}
struct Umask {
  mode_t old;
  explicit Umask(mode_t m) : old(::umask(m)) {}
  ~Umask() { ::umask(old); }
};
}  // namespace

TEST_CASE("a new store, its -wal and -shm are mode 0600 under umask 000", "[store][security]") {
  TempDb t;
  Umask open_to_all(0);
  auto s = Store::open(t.path, true);
  CHECK(write(*s, [](Writer& w) { w.put(K("location"), loc("a")); }) == 2);  // settles at t.path
  CHECK(write(*s, [](Writer& w) { w.put(K("location"), loc("b")); }) == 3);
  CHECK(mode_of(t.path) == 0600);
  // Open in WAL mode: the log and the shared-memory index are beside it, with its mode.
  CHECK(mode_of(t.path + "-wal") == 0600);
  CHECK(mode_of(t.path + "-shm") == 0600);
}

TEST_CASE("write_file_durably: 0600 under umask 000; a group's read is kept, others' never", "[store][security]") {
  TempDb t;
  Umask open_to_all(0);
  const std::string f = t.file("snap");
  write_file_durably(f, {"one"});
  CHECK(mode_of(f) == 0600);
  ::chmod(f.c_str(), 0666);  // shared with everyone by hand
  write_file_durably(f, {"two"});
  CHECK(mode_of(f) == 0640);  // the group keeps reading, others lose everything
  ::chmod(f.c_str(), 0604);
  write_file_durably(f, {"three"}, false);
  CHECK(mode_of(f) == 0600);
  std::ifstream in(f);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(text == "three");
  // A link planted at the temporary name is replaced, never written through.
  const std::string victim = t.file("victim");
  { std::ofstream(victim) << "untouched"; }
  std::filesystem::create_symlink(victim, f + ".tmp." + std::to_string(::getpid()));
  write_file_durably(f, {"four"});
  std::ifstream v(victim);
  std::string kept((std::istreambuf_iterator<char>(v)), std::istreambuf_iterator<char>());
  CHECK(kept == "untouched");
}
