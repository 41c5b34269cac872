"""The population generator (`lifeline generate`): a whole synthetic region of Denmark as FHIR R4.

The region's hospitals, departments, wards, beds, clinics, theatres and staff (region.py,
organisations.py), then one chart per patient (patient.py): Danish people with CPR numbers that
belong to nobody (people.py, cpr.py), years of illnesses, encounters, labs, imaging, medicines
and notes (history.py and the modules it uses), and today's logistics (grid.py, logistics.py).
Deterministic and streamed (driver.py, writer.py). Every resource is synthetic and labelled so."""

from lifeline.generate.driver import Options, Summary, generate

__all__ = ["Options", "Summary", "generate"]
