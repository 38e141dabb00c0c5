package rules

// queueRules are the detectors of the job queue rules, read from river's
// river_job table in PostgreSQL and from the queues Celery, asynq and
// BullMQ keep in Redis.
var queueRules = []Detector{
	queueBacklog,
}
