"""Port geography: packaged file, user overrides, validation messages."""

from __future__ import annotations

from pathlib import Path

import pytest
import shapely
import yaml

from streams.geo import GeographyError, geography_from_dict, geography_to_dict, load_geography


def test_default_geography_has_san_pedro_bay() -> None:
    geo = load_geography()
    region = geo.regions["san-pedro-bay"]
    assert set(region.ports) == {"USLAX", "USLGB"}
    assert len(region.anchorages) == region.limits.anchorages == 55
    for code, port in region.ports.items():
        own = [a for a in region.anchorages if a.port == code]
        assert len(own) == port.limits.anchorages
        assert port.limits.truck_dwell_days == 9 and port.limits.rail_dwell_days == 3
        assert port.terminals and all(t.berths for t in port.terminals)
    kinds = {w.kind for w in region.waiting_areas}
    assert kinds == {"drifting", "offshore"}


def test_outer_anchorages_lie_in_the_published_box() -> None:
    region = load_geography().regions["san-pedro-bay"]
    for a in region.anchorages:
        if a.kind == "outer":
            x0, y0, x1, y1 = a.polygon.bounds
            assert y0 >= 33.60 and y1 <= 33.76, a.name
            assert x0 >= -118.30 and x1 <= -118.05, a.name


def test_areas_do_not_overlap() -> None:
    region = load_geography().regions["san-pedro-bay"]
    polys = [a.polygon for a in region.anchorages]
    polys += [b.polygon for p in region.ports.values() for t in p.terminals for b in t.berths]
    polys += [w.polygon for w in region.waiting_areas]
    total = sum(p.area for p in polys)
    assert shapely.union_all(polys).area == pytest.approx(total, rel=1e-9)


def test_round_trip() -> None:
    geo = load_geography()
    assert geography_from_dict(geography_to_dict(geo)) == geo


def test_user_file_adds_a_port_and_overrides_a_limit(tmp_path: Path) -> None:
    extra = {
        "regions": {
            "san-pedro-bay": {"limits": {"anchorages": 60}},
            "oakland": {
                "name": "Oakland",
                "sea_gate": [-122.6, 37.8],
                "ports": {
                    "USOAK": {
                        "name": "Oakland",
                        "entrance": [-122.35, 37.81],
                        "terminals": [
                            {
                                "name": "TraPac Oakland",
                                "code": "TRAPAC-OAK",
                                "berths": [
                                    {"name": "B1", "ring": [[-122.32, 37.80], [-122.31, 37.80],
                                                            [-122.31, 37.801], [-122.32, 37.80]]}
                                ],
                            }
                        ],
                    }
                },
            },
        }
    }  # fmt: skip
    path = tmp_path / "extra.yaml"
    path.write_text(yaml.safe_dump(extra))
    geo = load_geography(path)
    assert geo.port("USOAK").terminals[0].code == "TRAPAC-OAK"
    assert geo.regions["san-pedro-bay"].limits.anchorages == 60
    assert len(geo.regions["san-pedro-bay"].anchorages) == 55  # lists untouched
    assert "USLAX" in geo.ports


def _broken(mutate: object) -> dict[str, object]:
    doc = geography_to_dict(load_geography())
    assert callable(mutate)
    mutate(doc["regions"]["san-pedro-bay"])
    return doc


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda r: r["anchorages"][3]["ring"].pop(), "regions.san-pedro-bay.anchorages[3].ring"),
        (
            lambda r: r["anchorages"][0].update(ring=[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]),
            "regions.san-pedro-bay.anchorages[0].ring",
        ),
        (lambda r: r["ports"].update(USLA=r["ports"]["USLAX"]), "regions.san-pedro-bay.ports"),
        (
            lambda r: r["anchorages"][5].update(port="USOAK"),
            "regions.san-pedro-bay.anchorages[5].port",
        ),
        (lambda r: r["limits"].update(anchorages=-1), "regions.san-pedro-bay.limits.anchorages"),
        (lambda r: r["ports"]["USLGB"].update(entrance=[-218.0, 33.7]), "ports.USLGB.entrance"),
        (
            lambda r: r["waiting_areas"][1].update(active_from="16/11/2021"),
            "waiting_areas[1].active_from",
        ),
    ],
)
def test_validation_names_the_field(mutate: object, field: str) -> None:
    with pytest.raises(GeographyError) as info:
        geography_from_dict(_broken(mutate))
    message = str(info.value)
    assert field in message
    assert "\n" not in message


def test_bad_yaml_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("regions: [unclosed\n")
    with pytest.raises(GeographyError) as info:
        load_geography(path)
    assert "bad.yaml" in str(info.value) and "\n" not in str(info.value)
