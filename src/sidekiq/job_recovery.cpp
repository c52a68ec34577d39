#include "quiesce/sidekiq/job_recovery.hpp"

#include <fmt/format.h>

#include <utility>

#include "quiesce/sidekiq/redis_schema.hpp"

namespace quiesce {
namespace {

RecoveryOutcome failed(std::string identity, std::string error,
                       std::vector<InFlightJob> jobs = {}) {
  return {RecoveryStatus::Failed, std::move(identity), std::move(jobs), std::move(error)};
}

}  // namespace

JobRecovery::JobRecovery(redis::Client* client, std::string hostname, WallSeconds quiesce_started,
                         std::function<WallSeconds()> wall_clock, LogFn log)
    : client_(client),
      hostname_(std::move(hostname)),
      quiesce_started_(quiesce_started),
      wall_clock_(std::move(wall_clock)),
      log_(std::move(log)) {}

std::function<void(redis::PipelineResult)> JobRecovery::guarded(
    std::function<void(redis::PipelineResult)> fn) {
  return [alive = alive_.witness(), fn = std::move(fn)](redis::PipelineResult result) {
    if (!alive.gone()) fn(std::move(result));
  };
}

void JobRecovery::read_ahead(const std::vector<FoundProcess>& targets) {
  for (const FoundProcess& target : targets) {
    if (!target.identity.empty()) read(target.identity);
  }
}

void JobRecovery::read(const std::string& identity) {
  reads_[identity] = Read{};
  if (!client_) {
    reads_[identity].finished = true;
    reads_[identity].error = "no Redis client";
    return;
  }
  client_->pipeline(
      sidekiq::work_commands(identity), guarded([this, identity](redis::PipelineResult result) {
        auto it = reads_.find(identity);
        if (it == reads_.end()) return;
        Read& r = it->second;
        r.finished = true;
        if (const redis::Replies* replies = redis::replies_of(result, 2)) {
          std::vector<std::string> skipped;
          r.jobs = sidekiq::parse_held_jobs((*replies)[0], &skipped);
          auto older = sidekiq::parse_held_jobs((*replies)[1], &skipped);
          r.jobs.insert(r.jobs.end(), older.begin(), older.end());
          for (const std::string& why : skipped) {
            log_(make_log(Level::Error, "redis_entry_skipped",
                          "Sidekiq work entry of " + identity + " cannot be put back: " + why,
                          {{"identity", identity}, {"problem", why}}));
          }
        } else {
          r.error = redis::failure_of(result);
        }
        auto waiting = std::move(r.waiting);
        for (auto& next : waiting) next();
      }));
}

void JobRecovery::recover(pid_t pid, const std::string& identity, Done done) {
  if (!client_) {
    // The effect side has no Redis: answered from the loop's next turn by
    // the caller's own timer is too late to say why, so say it now.
    done(failed(identity, "no Redis configured"));
    return;
  }
  if (identity.empty()) return with_identity(pid, std::move(done));
  // No reading before the kill (a death outside a stop): read now; the
  // process is dead, so its work hash no longer changes. A reading before
  // the kill that failed is not tried again: the one round trip left before
  // the orchestrator's SIGKILL is the push's.
  if (!reads_.count(identity)) read(identity);
  Read& r = reads_[identity];
  auto next = [this, identity, done = std::move(done)]() mutable {
    push(identity, std::move(done));
  };
  if (r.finished) return next();
  r.waiting.push_back(std::move(next));
}

void JobRecovery::with_identity(pid_t pid, Done done) {
  auto on_members = [this, pid, done](redis::PipelineResult result) {
    const redis::Replies* replies = redis::replies_of(result, 1);
    if (!replies) return done(failed("", redis::failure_of(result)));
    auto candidates =
        sidekiq::candidate_identities(sidekiq::parse_members((*replies)[0]), hostname_, {pid});
    if (candidates.empty()) return done({RecoveryStatus::NoIdentity, "", {}, ""});
    std::vector<redis::Command> commands;
    for (const std::string& id : candidates) commands.push_back(sidekiq::identity_info_command(id));
    auto on_infos = [this, pid, done, candidates](redis::PipelineResult infos) {
      const redis::Replies* replies = redis::replies_of(infos, candidates.size());
      if (!replies) return done(failed("", redis::failure_of(infos)));
      std::vector<IdentityCandidate> read;
      for (std::size_t i = 0; i < candidates.size(); ++i) {
        read.push_back(sidekiq::identity_candidate(candidates[i], (*replies)[i]));
      }
      auto identity = choose_identity(read, quiesce_started_);
      if (!identity) return done({RecoveryStatus::NoIdentity, "", {}, ""});
      recover(pid, *identity, done);
    };
    client_->pipeline(std::move(commands), guarded(std::move(on_infos)));
  };
  client_->pipeline({sidekiq::members_command()}, guarded(std::move(on_members)));
}

void JobRecovery::push(const std::string& identity, Done done) {
  const Read& r = reads_[identity];
  if (!r.error.empty()) return done(failed(identity, r.error));
  std::vector<std::string> unpushable;
  std::vector<HeldJob> jobs = jobs_to_push(r.jobs, &unpushable);
  for (const std::string& job : unpushable) {
    log_(make_log(
        Level::Error, "recovery_failed",
        fmt::format("job {} of {} has no queue or payload: cannot be put back", job, identity),
        {{"identity", identity}, {"job", job}}));
  }
  std::vector<InFlightJob> named;
  const WallSeconds now = wall_clock_();
  for (const HeldJob& job : jobs) named.push_back(in_flight_job(job, now));
  auto on_reply = [identity, named, done](redis::PipelineResult result) {
    const redis::Replies* replies = redis::replies_of(result, 1);
    if (!replies) return done(failed(identity, redis::failure_of(result), named));
    auto reply = sidekiq::parse_requeue_reply((*replies)[0]);
    if (reply.status == RecoveryStatus::Failed) return done(failed(identity, reply.detail, named));
    RecoveryOutcome outcome{reply.status, identity, {}, reply.detail};
    if (reply.status == RecoveryStatus::Requeued) outcome.jobs = named;
    done(std::move(outcome));
  };
  client_->pipeline({sidekiq::requeue_command(identity, jobs)}, guarded(std::move(on_reply)));
}

}  // namespace quiesce
