"""The municipalities of the Capital Region and Region Zealand: code, name, population (thousands,
for weighting), postcodes with towns, and the hospital site that serves them (the catchment)."""

from __future__ import annotations

from typing import NamedTuple


class Municipality(NamedTuple):
    code: str  # the municipality number (kommunekode)
    name: str
    region: str
    population: int  # thousands, rounded
    postcodes: tuple[tuple[str, str], ...]
    site: str  # key of the hospital site of its catchment (hospitals.SITES)


H, S = "hovedstaden", "sjaelland"

MUNICIPALITIES = (
    Municipality(
        "101",
        "København",
        H,
        650,
        (
            ("1050", "København K"),
            ("1620", "København V"),
            ("2100", "København Ø"),
            ("2200", "København N"),
            ("2300", "København S"),
            ("2400", "København NV"),
            ("2450", "København SV"),
            ("2500", "Valby"),
            ("2700", "Brønshøj"),
            ("2720", "Vanløse"),
        ),
        "rh",
    ),
    Municipality("147", "Frederiksberg", H, 105, (("1850", "Frederiksberg C"), ("2000", "Frederiksberg")), "frb"),
    Municipality(
        "157", "Gentofte", H, 75, (("2820", "Gentofte"), ("2900", "Hellerup"), ("2920", "Charlottenlund")), "gen"
    ),
    Municipality("159", "Gladsaxe", H, 70, (("2860", "Søborg"), ("2880", "Bagsværd")), "her"),
    Municipality("173", "Lyngby-Taarbæk", H, 56, (("2800", "Kongens Lyngby"),), "gen"),
    Municipality("163", "Herlev", H, 30, (("2730", "Herlev"),), "her"),
    Municipality("151", "Ballerup", H, 50, (("2750", "Ballerup"),), "her"),
    Municipality("175", "Rødovre", H, 41, (("2610", "Rødovre"),), "hvi"),
    Municipality("167", "Hvidovre", H, 54, (("2650", "Hvidovre"),), "hvi"),
    Municipality("185", "Tårnby", H, 44, (("2770", "Kastrup"),), "ama"),
    Municipality("155", "Dragør", H, 14, (("2791", "Dragør"),), "ama"),
    Municipality("165", "Albertslund", H, 28, (("2620", "Albertslund"),), "hvi"),
    Municipality("161", "Glostrup", H, 24, (("2600", "Glostrup"),), "hvi"),
    Municipality("153", "Brøndby", H, 36, (("2605", "Brøndby"),), "hvi"),
    Municipality("187", "Vallensbæk", H, 17, (("2625", "Vallensbæk"),), "hvi"),
    Municipality("183", "Ishøj", H, 23, (("2635", "Ishøj"),), "hvi"),
    Municipality("169", "Høje-Taastrup", H, 52, (("2630", "Taastrup"),), "hvi"),
    Municipality("230", "Rudersdal", H, 57, (("2840", "Holte"), ("3460", "Birkerød")), "gen"),
    Municipality("190", "Furesø", H, 41, (("3520", "Farum"), ("3500", "Værløse")), "her"),
    Municipality("240", "Egedal", H, 44, (("3650", "Ølstykke"), ("3660", "Stenløse")), "her"),
    Municipality("201", "Allerød", H, 26, (("3450", "Allerød"),), "hil"),
    Municipality("223", "Hørsholm", H, 25, (("2970", "Hørsholm"),), "hil"),
    Municipality("210", "Fredensborg", H, 41, (("3480", "Fredensborg"), ("2980", "Kokkedal")), "hil"),
    Municipality("217", "Helsingør", H, 64, (("3000", "Helsingør"), ("3100", "Hornbæk")), "hel"),
    Municipality("219", "Hillerød", H, 52, (("3400", "Hillerød"),), "hil"),
    Municipality("270", "Gribskov", H, 41, (("3200", "Helsinge"), ("3250", "Gilleleje")), "hil"),
    Municipality("260", "Halsnæs", H, 31, (("3300", "Frederiksværk"), ("3390", "Hundested")), "fsu"),
    Municipality("250", "Frederikssund", H, 46, (("3600", "Frederikssund"),), "fsu"),
    Municipality(
        "400",
        "Bornholm",
        H,
        39,
        (("3700", "Rønne"), ("3730", "Nexø"), ("3770", "Allinge"), ("3720", "Aakirkeby")),
        "bh",
    ),
    Municipality("265", "Roskilde", S, 90, (("4000", "Roskilde"),), "ros"),
    Municipality("259", "Køge", S, 62, (("4600", "Køge"),), "koe"),
    Municipality("253", "Greve", S, 51, (("2670", "Greve"),), "ros"),
    Municipality("269", "Solrød", S, 24, (("2680", "Solrød Strand"),), "koe"),
    Municipality("336", "Stevns", S, 23, (("4660", "Store Heddinge"),), "koe"),
    Municipality("350", "Lejre", S, 29, (("4320", "Lejre"),), "ros"),
    Municipality("316", "Holbæk", S, 72, (("4300", "Holbæk"),), "hol"),
    Municipality("306", "Odsherred", S, 33, (("4500", "Nykøbing Sj"), ("4550", "Asnæs")), "hol"),
    Municipality("326", "Kalundborg", S, 49, (("4400", "Kalundborg"),), "hol"),
    Municipality("340", "Sorø", S, 30, (("4180", "Sorø"),), "sla"),
    Municipality("329", "Ringsted", S, 35, (("4100", "Ringsted"),), "rin"),
    Municipality("330", "Slagelse", S, 79, (("4200", "Slagelse"),), "sla"),
    Municipality("370", "Næstved", S, 83, (("4700", "Næstved"),), "nae"),
    Municipality("320", "Faxe", S, 37, (("4640", "Faxe"),), "koe"),
    Municipality("390", "Vordingborg", S, 46, (("4760", "Vordingborg"),), "nyk"),
    Municipality("376", "Guldborgsund", S, 61, (("4800", "Nykøbing F"),), "nyk"),
    Municipality("360", "Lolland", S, 41, (("4930", "Maribo"), ("4900", "Nakskov")), "nyk"),
)
