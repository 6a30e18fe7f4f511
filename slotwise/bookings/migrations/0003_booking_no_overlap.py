"""PostgreSQL only: the exclusion constraint that makes double booking impossible (rule 4).

Not declared in Booking.Meta (see the model docstring), so the model state does not change.
On SQLite this migration does nothing; the services' lock-and-recheck is the only guard there.
"""

from django.db import migrations

CREATE = """
ALTER TABLE bookings_booking ADD CONSTRAINT booking_no_overlap EXCLUDE USING gist (
    staff_id WITH =,
    tstzrange(blocked_start, blocked_end, '[)') WITH &&
) WHERE (status IN ('held', 'confirmed') AND exclusive)
"""


def add_constraint(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    schema_editor.execute(CREATE)


def drop_constraint(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        "ALTER TABLE bookings_booking DROP CONSTRAINT IF EXISTS booking_no_overlap"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("bookings", "0002_initial"),
    ]

    operations = [
        migrations.RunPython(add_constraint, drop_constraint, elidable=False),
    ]
