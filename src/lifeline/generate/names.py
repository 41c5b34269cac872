"""Danish names and street names (common ones, with æ, ø and å), by the generation that bore them.

Chosen by hand from the names most given in Denmark in each period, with a share of names common
among Danes of other origins. Kept as space-separated text so the lists stay readable."""

from __future__ import annotations

# First names by birth period: before 1960, 1960-1994, from 1995.
FEMALE = (
    tuple("Kirsten Hanne Inge Karen Bente Jytte Birgit Else Ellen Grethe Ingrid Tove Åse Bodil Lis Ruth Ebba".split()),
    tuple("Anne Mette Helle Susanne Lene Marianne Lone Pia Tina Gitte Charlotte Louise Camilla Dorthe Jette".split()),
    tuple("Emma Ida Sofie Freja Clara Alma Ella Anna Laura Maja Mathilde Astrid Agnes Frida Nanna Lærke Asta".split()),
)
MALE = (
    tuple("Jens Hans Niels Jørgen Poul Erik Knud Bent Ole Svend Børge Aage Kaj Ejnar Kåre Leif Arne Øjvind".split()),
    tuple("Peter Lars Michael Henrik Thomas Søren Jan Christian Martin Anders Morten Jesper Rasmus Bjørn Jørn".split()),
    tuple(
        "William Noah Oscar Lucas Carl Victor Malthe Alfred Emil Magnus Aksel Frederik Oliver Valdemar Storm".split()
    ),
)
FEMALE_OTHER = tuple("Fatima Aisha Zeynep Amina Agnieszka Leyla Sara Yasmin Olena Hiba".split())
MALE_OTHER = tuple("Mohammed Ali Ahmad Mehmet Omar Piotr Yusuf Hassan Tomasz Andriy".split())
MIDDLE_FEMALE = tuple("Marie Louise Sofie Kristine Elisabeth".split())
MIDDLE_MALE = tuple("Juul Bach Holm Krogh Dahl Emil".split())

SURNAMES = tuple(
    """Nielsen Jensen Hansen Pedersen Andersen Christensen Larsen Sørensen Rasmussen Jørgensen Petersen
    Madsen Kristensen Olsen Thomsen Christiansen Poulsen Johansen Møller Mortensen Knudsen Jakobsen
    Mikkelsen Olesen Frederiksen Laursen Henriksen Lund Schmidt Holm Eriksen Kristiansen Nørgaard Clausen
    Simonsen Svendsen Andreasen Iversen Jeppesen Vestergaard Østergaard Søndergaard Bøgh Dahl Bach Kjær
    Lauridsen Friis Skov Krogh Bækgaard Højgaard Brøndum Kjærgaard Ærenlund Følner Damgård Åkjær""".split()
)
SURNAMES_OTHER = tuple("Hussein Ahmed Ali Yilmaz Nowak Kowalski Nguyen Öztürk Khan Demir".split())

STREETS = tuple(
    """Vestergade Østergade Nørregade Søndergade Jernbanegade Skolevej Kirkevej Bøgevej Egevej Birkevej
    Ahornvej Rosenvej Møllevej Strandvejen Stationsvej Lærkevej Sølvgade Tårnvej Ålekistevej Åbakken
    Præstøvej Kærvej Fælledvej Hovedgaden Engvej Mågevej Ørnevej Violvej Kløvervej Græsvænget
    Højgårdsvej Bakkedraget Nørrebrogade Amagerbrogade Vesterbrogade Ågade Søvej""".split()
)
FLOORS = ("st. tv.", "st. th.", "1. tv.", "1. th.", "2. tv.", "2. th.", "3. tv.", "3. th.", "4. mf.")
