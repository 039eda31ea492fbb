-- PATHWAY-V2: how a trajectory closed and how the family did six months later, kept with the case
-- by intake only. The topic carries the reason and whether an outcome was recorded, never the
-- outcome or the follow-up's result. A time-out address named later is identity data: it is sealed
-- with the rest of the identity (services/intake/identity.py), so it needs no column.
ALTER TABLE cases
    ADD COLUMN close_reason text,      -- goal_reached, broken_off, moved, other; NULL: none given
    ADD COLUMN outcome      jsonb,     -- {"at_home": bool, "day_activity": bool}; NULL: none given
    ADD COLUMN relapse      boolean;   -- the follow-up's result; NULL: no follow-up reported
