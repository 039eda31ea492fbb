-- A person's own alerts (GET /v1/alerts/mine): the notices sent to them, newest first. Texts are now
-- in the reader's language and the engine remembers, per case, what it told whom (its state's
-- `told`); a state kept before takes what its alerts were sent for as told, in code
-- (engine.NotificationEngine._told_before), so no data changes here.
CREATE INDEX notifier_alert_recipient ON notifier_alert (recipient, due_at DESC) WHERE sent_at IS NOT NULL;
