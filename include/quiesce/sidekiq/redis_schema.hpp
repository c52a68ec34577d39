#pragma once
// Sidekiq's view of itself in Redis, read from outside: which commands to
// send and what the replies mean. No I/O here; drain_probe.cpp sends the
// commands. Every reply may be missing, stale, of the wrong type or
// garbage: the worst outcome is "no reading", never an exception.
//
// Layout written at each heartbeat (launcher.rb):
//   SET  processes        members "<hostname>:<pid>:<nonce>"
//   HASH <identity>       info (JSON, started_at), beat (float epoch s),
//                         quiet ("true"/"false"), busy
//   HASH <identity>:workers (6.4.1) / <identity>:work (6.4.2+, 7, 8)
//                         thread id -> {"queue","payload","run_at"}
#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "quiesce/core/drain_reading.hpp"
#include "quiesce/core/time.hpp"
#include "quiesce/redis/reply.hpp"

namespace quiesce::sidekiq {

// A process that has not beaten in this long has its keys expiring (TTL 60).
inline constexpr double kBeatFreshSeconds = 60.0;

struct Identity {
  std::string hostname;  // DYNO or gethostname(); may itself hold ':'
  pid_t pid = 0;
  std::string nonce;
};
std::optional<Identity> parse_identity(std::string_view identity);

// --- discovery ---

redis::Command members_command();  // SMEMBERS processes
std::vector<std::string> parse_members(const redis::Reply& reply);

// Members whose hostname is ours and whose pid is one of live_pids.
std::vector<std::string> candidate_identities(const std::vector<std::string>& members,
                                              std::string_view hostname,
                                              const std::vector<pid_t>& live_pids);

// HMGET <id> info beat concurrency (the hash's concurrency: 8.1.2+)
redis::Command identity_info_command(const std::string& identity);

// What /proc says about the process a candidate identity names.
struct LocalProcess {
  WallSeconds started = 0;
  std::optional<TitleReading> title;
};

// Accepts a candidate when its info was written by the process running now
// (started_at >= process start - slack: a previous container with the same
// hostname and pid left stale identities), it beat recently, and it agrees
// with the process's title (tag, concurrency): two containers of one pod or
// ECS task share a host name and often the pid, and each one's quiesce sees
// both identities. The result carries info.embedded and info.version.
std::optional<FoundProcess> accept_identity(const std::string& identity,
                                            const redis::Reply& info_reply,
                                            const LocalProcess& process, WallSeconds now);
std::optional<FoundProcess> accept_identity(const std::string& identity,
                                            const redis::Reply& info_reply,
                                            WallSeconds process_started, WallSeconds now);

// One identity per process. A process with two accepted identities (another
// container's Sidekiq with the same host name, pid, tag and concurrency)
// cannot be told apart from it: it gets none, and is drained by its title
// alone rather than by another process's numbers. Its pid goes to
// `ambiguous`.
std::vector<FoundProcess> one_identity_each(const std::vector<FoundProcess>& accepted,
                                            std::vector<pid_t>* ambiguous = nullptr);

// --- polling ---

redis::Command heartbeat_command(const std::string& identity);  // HMGET <id> beat quiet busy
// The work hash: <id>:workers up to 6.4.1, <id>:work from 6.4.2. With the
// version unknown (empty), both HGETALLs, one of which finds nothing.
std::vector<redis::Command> work_commands(const std::string& identity,
                                          std::string_view version = {});

// beat, quiet, busy; jobs left empty (they come from work_commands).
std::optional<HeartbeatReading> parse_heartbeat(const std::string& identity,
                                                const redis::Reply& reply);

struct RunningJob {
  std::string job_class;
  std::string jid;
  std::string queue;
  WallSeconds run_at = 0;
};
// An entry that cannot be read (not JSON, or nested deeper than any
// Sidekiq writes: nlohmann-json recurses on such values) is skipped; when
// `skipped` is given, it gets one line per such entry, naming its field.
std::vector<RunningJob> parse_work(const redis::Reply& hgetall,
                                   std::vector<std::string>* skipped = nullptr);
std::vector<InFlightJob> in_flight(const std::vector<RunningJob>& jobs, WallSeconds now);

// Per identity: the beat whose work hash was last read, and its jobs. The
// work hash only changes at a beat, so it is read again only when the beat
// has moved on, or when the read looked empty while the beat said busy:
// 6.4.2-7.2 rewrite the hash with a DEL then HSETs, outside MULTI, and a
// read between the two sees nothing. That one is read again at the next
// poll rather than a beat later.
class WorkCache {
 public:
  bool needs_refresh(const std::string& identity, WallSeconds beat) const;
  void store(const std::string& identity, WallSeconds beat, std::vector<RunningJob> jobs,
             int busy = 0);
  std::vector<InFlightJob> jobs(const std::string& identity, WallSeconds now) const;
  void clear() { entries_.clear(); }

 private:
  struct Entry {
    WallSeconds beat = 0;
    std::vector<RunningJob> jobs;
    bool complete = true;  // false: looked empty mid-rewrite
  };
  std::map<std::string, Entry> entries_;
};

}  // namespace quiesce::sidekiq
