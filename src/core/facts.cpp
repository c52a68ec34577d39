#include "quiesce/core/facts.hpp"

#include "quiesce/core/enum_names.hpp"
#include "quiesce/core/overload.hpp"

namespace quiesce {

const char* event_name(const Fact& fact) {
  return std::visit(
      Overload{
          [](const fact::StopPlanned&) { return "stop_plan"; },
          [](const fact::SecondSignal&) { return "second_signal"; },
          [](const fact::SidekiqFound&) { return "sidekiq_found"; },
          [](const fact::TstpSent&) { return "tstp_sent"; },
          [](const fact::DrainProgress&) { return "drain_progress"; },
          [](const fact::TermSent&) { return "term_sent"; },
          [](const fact::SidekiqTimeoutChanged&) { return "sidekiq_timeout_changed"; },
          [](const fact::DrainingMainChild&) { return "sidekiq_fallback"; },
          [](const fact::EmbeddedSidekiq&) { return "sidekiq_embedded"; },
          [](const fact::NoSidekiq&) { return "no_sidekiq"; },
          [](const fact::SidekiqExited&) { return "child_exited"; },
          [](const fact::ProcessGone&) { return "process_gone"; },
          [](const fact::MainChildExited&) { return "child_exited"; },
          [](const fact::Reaped&) { return "reaped"; },
          [](const fact::GraceStarted&) { return "grace_started"; },
          [](const fact::KillSent&) { return "kill_sent"; },
          [](const fact::StopDone&) { return "stop_done"; },
          [](const fact::Exiting&) { return "exit"; },
          [](const fact::OomKilled&) { return "oom_killed"; },
          [](const fact::JobRequeued&) { return "job_requeued"; },
          [](const fact::RecoveryFailed&) { return "recovery_failed"; },
          [](const fact::RecoveryNotNeeded&) { return "recovery_not_needed"; },
          [](const fact::SignalForwarded&) { return "signal_forwarded"; },
          [](const fact::ThreadRuleSkipped&) { return "thread_rule_off"; },
          [](const fact::QuietStarted&) { return "quiet_started"; },
          [](const fact::QuietDrained&) { return "quiet_drained"; },
          [](const fact::NothingToQuiet&) { return "nothing_to_quiet"; },
          [](const fact::QuietRefused&) { return "quiet_refused"; },
          [](const fact::RestartStarted&) { return "restart_started"; },
          [](const fact::RespawnScheduled&) { return "respawn_scheduled"; },
          [](const fact::RestartDone&) { return "restarted"; },
          [](const fact::RestartFailed&) { return "restart_failed"; },
      },
      fact);
}

std::string_view term_reason_name(TermReason reason) {
  static constexpr auto kNames =
      std::to_array<std::string_view>({"deadline", "drained", "no_room", "second_signal"});
  static_assert(static_cast<std::size_t>(TermReason::SecondSignal) + 1 == kNames.size());
  return enum_name(reason, kNames);
}

std::string_view found_by_name(FoundBy by) {
  static constexpr auto kNames = std::to_array<std::string_view>({"redis", "title", "main_child"});
  static_assert(static_cast<std::size_t>(FoundBy::MainChild) + 1 == kNames.size());
  return enum_name(by, kNames);
}

std::string_view recovery_status_name(RecoveryStatus status) {
  static constexpr auto kNames = std::to_array<std::string_view>(
      {"requeued", "nothing_running", "self_requeued", "reliable_fetch", "no_identity", "failed"});
  static_assert(static_cast<std::size_t>(RecoveryStatus::Failed) + 1 == kNames.size());
  return enum_name(status, kNames);
}

}  // namespace quiesce
