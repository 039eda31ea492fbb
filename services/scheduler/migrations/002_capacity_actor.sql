-- Who announced a capacity change (the change itself lives in the planner snapshot).
ALTER TABLE capacity_changes ADD COLUMN actor text NOT NULL DEFAULT 'api';
