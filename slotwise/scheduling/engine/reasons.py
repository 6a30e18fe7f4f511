"""The reason codes the engine emits.  The Django side translates them (one message per code).

Each option carries at most :data:`MAX_REASONS` reasons, strongest first: a reason's strength is
the weighted score contribution of the term it explains (``substitute`` has strength 0).

======================  ======================  ===============================================
code                    params                  meaning
======================  ======================  ===============================================
earliest                --                      the soonest start among the options offered
travel_from_previous    minutes                 travel from the previous visit to the customer
from_home               minutes                 travel from the staff member's home base
fills_gap               start, end              the visit (with travel and buffers) uses the
                                                whole free gap ``[start, end)`` (UTC minutes)
usual_staff             rank                    the customer had this staff member before;
                                                rank 0 is the most recent one
substitute              --                      the customer has a usual staff member, this
                                                is someone else
skill_level             level                   the staff member's lowest level among the
                                                required skills
light_load              booked_minutes          the staff member has at most half the load of
                                                the busiest eligible colleague
======================  ======================  ===============================================
"""

EARLIEST = "earliest"
TRAVEL_FROM_PREVIOUS = "travel_from_previous"
FROM_HOME = "from_home"
FILLS_GAP = "fills_gap"
USUAL_STAFF = "usual_staff"
SUBSTITUTE = "substitute"
SKILL_LEVEL = "skill_level"
LIGHT_LOAD = "light_load"

#: code -> names of its params, in order.
REASON_CODES: dict[str, tuple[str, ...]] = {
    EARLIEST: (),
    TRAVEL_FROM_PREVIOUS: ("minutes",),
    FROM_HOME: ("minutes",),
    FILLS_GAP: ("start", "end"),
    USUAL_STAFF: ("rank",),
    SUBSTITUTE: (),
    SKILL_LEVEL: ("level",),
    LIGHT_LOAD: ("booked_minutes",),
}

MAX_REASONS = 4
