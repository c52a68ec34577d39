#include "quiesce/core/facts.hpp"

#include "quiesce/core/overload.hpp"

namespace quiesce {

const char* event_name(const Fact& fact) {
  return std::visit(Overload{
                        [](const fact::StopPlanned&) { return "stop_plan"; },
                        [](const fact::SecondSignal&) { return "second_signal"; },
                        [](const fact::SidekiqFound&) { return "sidekiq_found"; },
                        [](const fact::TstpSent&) { return "tstp_sent"; },
                        [](const fact::DrainProgress&) { return "drain_progress"; },
                        [](const fact::TermSent&) { return "term_sent"; },
                        [](const fact::DrainingMainChild&) { return "sidekiq_fallback"; },
                        [](const fact::NoSidekiq&) { return "no_sidekiq"; },
                        [](const fact::SidekiqExited&) { return "child_exited"; },
                        [](const fact::ProcessGone&) { return "process_gone"; },
                        [](const fact::MainChildExited&) { return "child_exited"; },
                        [](const fact::Reaped&) { return "reaped"; },
                        [](const fact::GraceStarted&) { return "grace_started"; },
                        [](const fact::KillSent&) { return "kill_sent"; },
                        [](const fact::StopDone&) { return "stop_done"; },
                        [](const fact::Exiting&) { return "exit"; },
                        [](const fact::SignalForwarded&) { return "signal_forwarded"; },
                    },
                    fact);
}

const char* term_reason_name(TermReason reason) {
  switch (reason) {
    case TermReason::Drained:
      return "drained";
    case TermReason::NoRoom:
      return "no_room";
    case TermReason::SecondSignal:
      return "second_signal";
    case TermReason::Deadline:
      break;
  }
  return "deadline";
}

const char* found_by_name(FoundBy by) {
  switch (by) {
    case FoundBy::Redis:
      return "redis";
    case FoundBy::MainChild:
      return "main_child";
    case FoundBy::Title:
      break;
  }
  return "title";
}

}  // namespace quiesce
