# Enqueues SleepJobs and prints one jid per line.
#
#   REDIS_URL=redis://127.0.0.1:PORT/0 ruby enqueue.rb SECONDS [SECONDS ...]
#
# Each argument is one job's duration; "3x2" means three jobs of 2 s.
# QUEUE picks the queue (default "default").
require_relative "app"

queue = ENV.fetch("QUEUE", "default")
durations = ARGV.flat_map do |arg|
  count, seconds = arg.include?("x") ? arg.split("x", 2) : ["1", arg]
  Array.new(Integer(count)) { Float(seconds) }
end
abort "usage: enqueue.rb SECONDS [SECONDS ...]" if durations.empty?

durations.each do |seconds|
  puts Sidekiq::Client.push("class" => SleepJob, "queue" => queue, "args" => [seconds])
end
