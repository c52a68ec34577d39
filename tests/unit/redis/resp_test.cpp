// RESP replies fed to the reader in chunks of every size: what hiredis
// would allocate for from a header alone (an array of 677777702 elements is
// 5.3 GB of element table) is refused before hiredis sees it.
#include "quiesce/redis/resp.hpp"

#include <doctest/doctest.h>

#include <random>
#include <string>
#include <variant>
#include <vector>

using quiesce::redis::Reply;
using quiesce::redis::ReplyReader;

namespace {

constexpr std::size_t kCap = 64 << 20;  // the client's max_reply_bytes

struct Fed {
  std::vector<Reply> replies;
  std::optional<std::string> error;
};

// Feeds `bytes` in random chunks (1 to max_chunk bytes), taking every
// complete reply after each chunk, until the bytes end or an error comes.
Fed feed_chunked(const std::string& bytes, std::mt19937& random, std::size_t max_chunk) {
  ReplyReader reader(kCap);
  Fed fed;
  std::size_t at = 0;
  while (at < bytes.size() && !fed.error) {
    std::size_t n = std::min(bytes.size() - at, 1 + random() % max_chunk);
    fed.error = reader.feed(bytes.data() + at, n);
    at += n;
    while (!fed.error) {
      auto next = reader.next();
      if (std::holds_alternative<ReplyReader::NeedMore>(next)) break;
      if (auto* e = std::get_if<std::string>(&next)) {
        fed.error = *e;
      } else {
        fed.replies.push_back(std::move(std::get<Reply>(next)));
      }
    }
  }
  return fed;
}

std::string describe(const Reply& r) {
  switch (r.type) {
    case Reply::Type::String:
      return "$" + r.str;
    case Reply::Type::Status:
      return "+" + r.str;
    case Reply::Type::Error:
      return "-" + r.str;
    case Reply::Type::Integer:
      return ":" + std::to_string(r.integer);
    case Reply::Type::Nil:
      return "nil";
    case Reply::Type::Array: {
      std::string out = "[";
      for (const Reply& e : r.elements) out += describe(e) + ",";
      return out + "]";
    }
  }
  return "?";
}

std::string nested(int depth) {
  std::string out;
  for (int i = 0; i < depth; ++i) out += "*1\r\n";
  return out + ":7\r\n";
}

}  // namespace

TEST_CASE("resp: replies read alike in chunks of every size") {
  const std::string bytes =
      "+OK\r\n-ERR wrong\r\n:42\r\n$5\r\nhello\r\n$-1\r\n*-1\r\n*0\r\n$0\r\n\r\n"
      "*4\r\n$4\r\nbeat\r\n$12\r\n*999999999\r\n\r\n:-3\r\n*2\r\n+a\r\n*1\r\n$1\r\nz\r\n"
      "+status with \r in it\r\n" +
      nested(4);
  const std::vector<std::string> expected = {"+OK",
                                             "-ERR wrong",
                                             ":42",
                                             "$hello",
                                             "nil",
                                             "nil",
                                             "[]",
                                             "$",
                                             "[$beat,$*999999999\r\n,:-3,[+a,[$z,],],]",
                                             "+status with \r in it",
                                             "[[[[:7,],],],]"};
  std::mt19937 random(7);
  for (std::size_t max_chunk : {1, 2, 3, 5, 8, 13, 64, 4096}) {
    for (int round = 0; round < 20; ++round) {
      CAPTURE(max_chunk);
      Fed fed = feed_chunked(bytes, random, max_chunk);
      REQUIRE_FALSE(fed.error);
      REQUIRE(fed.replies.size() == expected.size());
      for (std::size_t i = 0; i < expected.size(); ++i)
        CHECK(describe(fed.replies[i]) == expected[i]);
    }
  }
}

TEST_CASE("resp: arrays too long or too deep are a protocol error before hiredis allocates") {
  const std::vector<std::string> hostile = {
      "*677777702\r\n",                           // 5.3 GB of element table in hiredis 0.14
      "*1048577\r\n",                             // one more than a reply may hold
      "*2\r\n*600000\r\n" + std::string(2, ' '),  // the elements of a reply, nested, add up
      "*2\r\n:1\r\n*1048576\r\n",
      "*2147483647\r\n",
      "*99999999999999999999\r\n",  // hiredis' own parse would overflow
      "*1x\r\n",
      "*-2\r\n",
      "*+5\r\n",
      "*\r\n",
      "$99999999999999999999\r\n",
      "$67108865\r\n",  // a bulk string beyond the reply cap
      "$1x\r\nab\r\n",
      "?what\r\n",
      nested(5),  // hiredis 0.14 goes to 7
      "*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n",
      "*1\r\n*1\r\n*1\r\n*1\r\n*0\r\n",  // an empty array nests too (found by fuzzing)
      "+OK\r\n*3\r\n:1\r\n:2\r\n:3\r\n*677777702\r\n",  // after good replies too
  };
  std::mt19937 random(11);
  for (const std::string& bytes : hostile) {
    for (std::size_t max_chunk : {1, 3, 7, 4096}) {
      CAPTURE(bytes);
      CAPTURE(max_chunk);
      Fed fed = feed_chunked(bytes, random, max_chunk);
      REQUIRE(fed.error);
      CHECK(fed.error->starts_with("protocol error"));
      for (const Reply& r : fed.replies) {
        if (r.type == Reply::Type::Array) CHECK(r.elements.size() == 3);
      }
    }
  }
}

TEST_CASE("resp: at the limits, still read") {
  std::mt19937 random(3);
  Fed fed = feed_chunked(nested(3) + "*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", random, 5);
  REQUIRE_FALSE(fed.error);
  REQUIRE(fed.replies.size() == 2);
  CHECK(describe(fed.replies[1]) == "[[[[:1,],],],]");
  std::string big = "*100000\r\n";
  for (int i = 0; i < 100'000; ++i) big += ":1\r\n";
  fed = feed_chunked(big, random, 65536);
  REQUIRE_FALSE(fed.error);
  REQUIRE(fed.replies.size() == 1);
  CHECK(fed.replies[0].elements.size() == 100'000);
}
