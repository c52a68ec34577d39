# A small Sidekiq app for stop tests: each SleepJob runs for a given number of
# seconds and records its start and its end in Redis, so a test can tell a
# finished job from one that was cut off.
#
# Run: REDIS_URL=redis://127.0.0.1:PORT/0 sidekiq -r ./app.rb -t 3 -c 10
# (embedded.rb runs it embedded instead, 7+.)
#
# Runs on Sidekiq 6.4 (redis-rb, Sidekiq::Worker) and on 7.x and 8.x
# (redis-client: no Redis constant; Sidekiq::Job).
#
# Keys written (all under "qtest:"):
#   qtest:started   hash  jid -> JSON {at, pid, host, seconds}  (last start)
#   qtest:finished  hash  jid -> JSON {at, pid, host, seconds}
#   qtest:events    list  JSON {event: "started"|"finished", jid, at, pid, host}
#                         in order, so a job run twice shows up twice
#
# Threads that look like Sidekiq's job threads, for the thread rule's tests:
#   QTEST_THREAD_NAME=NAME  the app starts a thread named NAME at boot (say
#                           "processor" or "sidekiq.default") that lives on
#   QTEST_JOB_THREADS=1     every SleepJob starts a short helper thread each
#                           second while it runs (Ruby names an unnamed
#                           thread after the file and line that made it)
#   QTEST_JOB_THREADS=NAME  the same, each helper named NAME
#
# SleepJob with the label "end-thread" ends the job thread that runs it, as a
# bug in a job or a gem can: Thread#kill raises nothing Sidekiq's processor
# rescues, so it never learns the thread is gone and starts no other. The
# heartbeat beats on while ever fewer threads take jobs.
require "json"
require "socket"
require "sidekiq"

# redis-rb 4.8 (Sidekiq 6) warns about its 5.0 API on every SADD Sidekiq
# makes. Sidekiq 7+ talks to Redis through redis-client and defines no Redis.
Redis.silence_deprecations = true if defined?(Redis) && Redis.respond_to?(:silence_deprecations=)

redis_config = { url: ENV.fetch("REDIS_URL", "redis://127.0.0.1:6379/0") }
Sidekiq.configure_server do |config|
  config.redis = redis_config
  # QTEST_SECOND_CAPSULE=N (7+): a second capsule of N threads on the queue
  # "second", beside the default one.
  if (threads = ENV["QTEST_SECOND_CAPSULE"]) && config.respond_to?(:capsule)
    config.capsule("second") do |cap|
      cap.concurrency = Integer(threads)
      cap.queues = %w[second]
    end
  end
end
Sidekiq.configure_client { |config| config.redis = redis_config }

# QTEST_PROCTITLE_WORD=WORD: the app appends a word to Sidekiq's process
# title, after the busy count (and after "stopping"), as PROCTITLES allows.
if (word = ENV["QTEST_PROCTITLE_WORD"]) && defined?(Sidekiq::Launcher::PROCTITLES)
  Sidekiq::Launcher::PROCTITLES << proc { word }
end

if (name = ENV["QTEST_THREAD_NAME"])
  Thread.new do
    Thread.current.name = name
    loop { sleep 1 }
  end
end

class SleepJob
  # Sidekiq::Job since 6.3; Sidekiq::Worker is the older name of the same.
  include(defined?(Sidekiq::Job) ? Sidekiq::Job : Sidekiq::Worker)
  # A job cut off by a hard shutdown must show up as requeued, never as a
  # retry: the tests tell the two apart.
  sidekiq_options retry: false

  # Small steps keep the thread responsive to Sidekiq's hard shutdown.
  STEP = 0.1

  def perform(seconds, label = nil)
    record("started", seconds)
    Thread.current.kill if label == "end-thread"
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + seconds.to_f
    helpers = []
    next_helper = 0.0
    loop do
      now = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      left = deadline - now
      break if left <= 0
      if ENV["QTEST_JOB_THREADS"] && now >= next_helper
        helper_name = ENV["QTEST_JOB_THREADS"]
        helpers << Thread.new do
          Thread.current.name = helper_name unless helper_name == "1"
          sleep 0.5
        end
        next_helper = now + 1.0
      end
      sleep([left, STEP].min)
    end
    helpers.each(&:join)
    record("finished", seconds)
  end

  private

  def record(event, seconds)
    entry = JSON.generate(event: event, jid: jid, at: Time.now.to_f,
                          pid: Process.pid, host: Socket.gethostname, seconds: seconds)
    Sidekiq.redis do |conn|
      conn.multi do |tx|
        tx.hset("qtest:#{event}", jid, entry)
        tx.rpush("qtest:events", entry)
      end
    end
  end
end
