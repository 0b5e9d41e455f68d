"""The tasks demo: work queued on commit, a retrying task, a cron job, job status."""
