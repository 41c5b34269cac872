"""Scans and X-rays (issue 22): the images themselves, kept in a DICOMweb PACS behind Lifeline.

Lifeline holds the ImagingStudy (who, what, when, the report); the pixels live in a PACS that
Lifeline speaks to through DICOMweb only (QIDO-RS, WADO-RS, STOW-RS and rendered frames), so any
DICOMweb PACS can take Orthanc's place. The browser never speaks to the PACS: every call it needs
is proxied by the node (web/imaging_proxy.py), authorised by the care rule of the ImagingStudy
that names the study, and recorded in the audit trail (access.py).

    pacs.py      the DICOMweb client: rendered frames and metadata for the proxy, STOW and WADO
                 for the loader and a site's copies; a PACS that is down is a clear 503
    access.py    which ImagingStudy a Study Instance UID belongs to, asked as the person
    load.py      `lifeline images load`: a folder of DICOM to the PACS, checked study by study
    orthanc.py   running Orthanc for the demo and the tests (`lifeline images pacs`)
    copies.py    a site's copies of its patients' recent studies, in its own small PACS
"""
