#!/usr/bin/env bash
# Before a deploy: quiet every Sidekiq task of an ECS service and let each one
# exit once its running jobs have finished; ECS replaces the tasks (with the
# new task definition, if the deploy has registered it) and no job is cut
# off. Runs `quiesce quiet --exit-when-drained` in each task through ECS Exec
# (the service needs enableExecuteCommand and the task role's SSM
# permissions). Without --wait, each task drains on its own: the script only
# starts the quiet; a job longer than the deploy window keeps running.
#
# usage: examples/deploy-quiet.sh CLUSTER SERVICE [CONTAINER]
set -euo pipefail
cluster=$1 service=$2 container=${3:-sidekiq}

tasks=$(aws ecs list-tasks --cluster "$cluster" --service-name "$service" \
  --desired-status RUNNING --query 'taskArns[]' --output text)
for task in $tasks; do
  echo "quieting $task"
  aws ecs execute-command --cluster "$cluster" --task "$task" --container "$container" \
    --interactive --command "quiesce quiet --exit-when-drained"
done
# Each task now exits 0 when idle; watch them go with:
#   aws ecs describe-tasks --cluster "$cluster" --tasks $tasks \
#     --query 'tasks[].[taskArn,lastStatus,containers[0].exitCode]'
