# The sample app with Sidekiq embedded in the process (7.0+, as inside Puma):
# Sidekiq writes its heartbeat with info.embedded true, never sets a process
# title and traps no signals (a TSTP stops this process). A TERM stops
# Sidekiq the way Puma's shutdown hook does, then the process exits.
#
#   REDIS_URL=redis://127.0.0.1:PORT/0 ruby embedded.rb
#
# QTEST_CONCURRENCY sets the threads (default 2, Sidekiq's own default here).
require_relative "app"

abort "embedded mode needs Sidekiq 7 or later" unless Sidekiq.respond_to?(:configure_embed)

instance = Sidekiq.configure_embed do |config|
  config.redis = { url: ENV.fetch("REDIS_URL", "redis://127.0.0.1:6379/0") }
  config.queues = %w[default]
  config.concurrency = Integer(ENV.fetch("QTEST_CONCURRENCY", "2"))
end
# As Puma's on_worker_shutdown hook does: the server's TERM stops Sidekiq,
# which quiets, waits up to its timeout for running jobs, requeues the rest.
# The trap only writes to a pipe; the main thread does the stopping.
stop_r, stop_w = IO.pipe
trap("TERM") { stop_w.write_nonblock(".", exception: false) }
instance.run
stop_r.read(1)
instance.stop
