"""Regenerate the sample inventory: `python deploy/examples/make_province.py > deploy/examples/province.yaml`."""

from __future__ import annotations

import sys
import unicodedata

import yaml

WARDS = [  # (xã or phường, name, district)
    ("phuong", "Phú Hội"), ("phuong", "Phú Nhuận"), ("phuong", "Vĩnh Ninh"), ("phuong", "Thuận Hòa"),
    ("phuong", "Đông Ba"), ("phuong", "Tây Lộc"), ("phuong", "Kim Long"), ("phuong", "Hương Long"),
    ("phuong", "Thủy Xuân"), ("phuong", "An Cựu"), ("phuong", "An Đông"), ("phuong", "An Tây"),
    ("phuong", "Trường An"), ("phuong", "Xuân Phú"), ("phuong", "Vỹ Dạ"), ("phuong", "Phước Vĩnh"),
    ("phuong", "Thủy Biều"), ("phuong", "Hương Sơ"), ("phuong", "Thuận Lộc"), ("phuong", "Phú Thượng"),
    ("xa", "Phú Vang"), ("xa", "Phú Thuận"), ("xa", "Phú Hải"), ("xa", "Phú Diên"), ("xa", "Vinh Thanh"),
    ("xa", "Vinh An"), ("xa", "Phú Mỹ"), ("xa", "Phú Hồ"), ("xa", "Phú Lương"), ("xa", "Quảng Thành"),
    ("xa", "Quảng An"), ("xa", "Quảng Phước"), ("xa", "Phong Hiền"), ("xa", "Phong An"), ("xa", "Phong Sơn"),
    ("xa", "Hương Toàn"), ("xa", "Bình Tiến"), ("xa", "Thượng Long"), ("xa", "Hồng Hạ"), ("xa", "A Lưới"),
]  # fmt: skip

# Where each ward's or commune's people's committee is (WGS 84, about a kilometre; contract section 7): the
# map panels and status pages place the sites by these.
COORDINATES = {
    "Phú Hội": (16.4680, 107.5960), "Phú Nhuận": (16.4600, 107.5965), "Vĩnh Ninh": (16.4605, 107.5850),
    "Thuận Hòa": (16.4745, 107.5735), "Đông Ba": (16.4760, 107.5875), "Tây Lộc": (16.4785, 107.5650),
    "Kim Long": (16.4595, 107.5545), "Hương Long": (16.4550, 107.5400), "Thủy Xuân": (16.4350, 107.5750),
    "An Cựu": (16.4500, 107.6000), "An Đông": (16.4555, 107.6150), "An Tây": (16.4300, 107.5950),
    "Trường An": (16.4450, 107.5850), "Xuân Phú": (16.4650, 107.6100), "Vỹ Dạ": (16.4770, 107.6050),
    "Phước Vĩnh": (16.4520, 107.5900), "Thủy Biều": (16.4400, 107.5500), "Hương Sơ": (16.4900, 107.5600),
    "Thuận Lộc": (16.4830, 107.5780), "Phú Thượng": (16.4950, 107.6200), "Phú Vang": (16.5156, 107.6712),
    "Phú Thuận": (16.5500, 107.6900), "Phú Hải": (16.5350, 107.7150), "Phú Diên": (16.5050, 107.7650),
    "Vinh Thanh": (16.4750, 107.8050), "Vinh An": (16.4600, 107.8200), "Phú Mỹ": (16.4900, 107.6700),
    "Phú Hồ": (16.4650, 107.6800), "Phú Lương": (16.4400, 107.7000), "Quảng Thành": (16.5500, 107.5700),
    "Quảng An": (16.5550, 107.6000), "Quảng Phước": (16.5750, 107.5950), "Phong Hiền": (16.5950, 107.4300),
    "Phong An": (16.5650, 107.4700), "Phong Sơn": (16.5600, 107.3800), "Hương Toàn": (16.5200, 107.5050),
    "Bình Tiến": (16.3300, 107.4800), "Thượng Long": (16.2100, 107.5500), "Hồng Hạ": (16.2800, 107.2700),
    "A Lưới": (16.2700, 107.2350),
}  # fmt: skip

DEVICES = [
    ("queue-ticket", "Kiosk lấy số thứ tự"),
    ("lookup", "Kiosk tra cứu hồ sơ"),
    ("feedback", "Máy đánh giá hài lòng"),
]


def slug(text: str) -> str:
    text = text.replace("đ", "d").replace("Đ", "D")
    ascii_text = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    return "-".join(ascii_text.lower().split())


def province() -> dict:
    agencies = [
        {"id": "so-tttt", "name": "Sở Thông tin và Truyền thông"},
        {"id": "vp-ubnd-tinh", "name": "Văn phòng UBND tỉnh"},
        {"id": "so-noi-vu", "name": "Sở Nội vụ"},
        {"id": "so-tai-chinh", "name": "Sở Tài chính"},
        {"id": "ubnd-cap-xa", "name": "UBND các xã, phường"},
    ]
    sites = [
        {
            "id": "dc-tinh",
            "name": "Trung tâm dữ liệu tỉnh",
            "address": "Số 6 Lê Lợi, thành phố Huế",
            "lat": 16.4660,
            "lon": 107.5880,
        },
        {
            "id": "hcc-tinh",
            "name": "Trung tâm Phục vụ hành chính công tỉnh",
            "parent": "dc-tinh",
            "lat": 16.4620,
            "lon": 107.5860,
        },
    ]
    dc_links = [
        ("dc-internet-vnpt", "Đường truyền Internet VNPT - Trung tâm dữ liệu", 1_000_000_000, "203.162.0.1", "dc-tinh"),
        ("dc-internet-viettel", "Đường truyền Internet Viettel - Trung tâm dữ liệu", 1_000_000_000, "27.68.0.1",
         "dc-tinh"),
        ("dc-tslcd", "Mạng truyền số liệu chuyên dùng - Trung tâm dữ liệu", 1_000_000_000, "10.30.0.1", "dc-tinh"),
        ("dc-cpnet", "Kết nối mạng CPNet - Trung tâm dữ liệu", 200_000_000, "10.30.0.2", "dc-tinh"),
        ("wan-hcc-tinh", "Đường truyền Trung tâm Phục vụ hành chính công", 500_000_000, "10.30.1.1", "hcc-tinh"),
    ]  # fmt: skip
    links = [
        {"kind": "link", "id": lid, "name": name, "site": site, "agency": "so-tttt", "capacity_bps": cap,
         "target": target, "interval_s": 15}
        for lid, name, cap, target, site in dc_links
    ]  # fmt: skip
    kiosks = []
    for n in range(30):
        device, label = DEVICES[n % 3]
        kiosks.append({
            "kind": "kiosk", "id": f"kiosk-hcc-{n + 1:02d}", "name": f"{label} {n // 3 + 1:02d} - Trung tâm PVHCC tỉnh",
            "site": "hcc-tinh", "agency": "vp-ubnd-tinh", "device": device, "depends_on": ["link/wan-hcc-tinh"],
            "interval_s": 30,
        })  # fmt: skip
    for i, (level, name) in enumerate(WARDS):
        word = "phường" if level == "phuong" else "xã"
        site_id = f"{level}-{slug(name)}"
        lat, lon = COORDINATES[name]
        sites.append({"id": site_id, "name": f"UBND {word} {name}", "parent": "dc-tinh", "lat": lat, "lon": lon})
        link_id = f"wan-{site_id}"
        links.append({
            "kind": "link", "id": link_id, "name": f"Đường truyền {word} {name}", "site": site_id, "agency": "so-tttt",
            "capacity_bps": 100_000_000, "target": f"10.30.{i + 10}.1", "interval_s": 15,
        })  # fmt: skip
        for n, (device, label) in enumerate(DEVICES):
            kiosks.append({
                "kind": "kiosk", "id": f"kiosk-{slug(name)}-{n + 1:02d}"[:63], "name": f"{label} - UBND {word} {name}",
                "site": site_id, "agency": "ubnd-cap-xa", "device": device, "depends_on": [f"link/{link_id}"],
                "interval_s": 30,
            })  # fmt: skip
    base = "tinh.example.gov.vn"
    services = [
        ("lgsp", "Nền tảng tích hợp, chia sẻ dữ liệu (LGSP)", "lgsp", "so-tttt", f"https://lgsp.{base}/health", []),
        (
            "dvc-portal",
            "Cổng Dịch vụ công tỉnh",
            "dvc_portal",
            "vp-ubnd-tinh",
            f"https://dichvucong.{base}/",
            ["service/lgsp"],
        ),
        (
            "mot-cua",
            "Hệ thống thông tin giải quyết thủ tục hành chính (một cửa điện tử)",
            "one_stop_shop",
            "vp-ubnd-tinh",
            f"https://motcua.{base}/",
            ["service/lgsp"],
        ),
        ("edoc", "Hệ thống quản lý văn bản và điều hành (eDoc)", "edoc", "so-noi-vu", f"https://edoc.{base}/", []),
        ("sms-gateway", "Cổng tin nhắn SMS (Brandname)", "sms_gateway", "so-tttt", f"https://sms.{base}/status", []),
        (
            "hoi-nghi-truyen-hinh",
            "Hệ thống hội nghị truyền hình trực tuyến",
            "video_conference",
            "vp-ubnd-tinh",
            f"https://hop.{base}/",
            [],
        ),
        (
            "bao-cao",
            "Hệ thống thông tin báo cáo tỉnh",
            "reporting",
            "so-tai-chinh",
            f"https://baocao.{base}/",
            ["service/lgsp"],
        ),
        (
            "phan-anh-kien-nghi",
            "Ứng dụng phản ánh, kiến nghị của người dân",
            "citizen_feedback",
            "so-tttt",
            f"https://phananh.{base}/",
            [],
        ),
    ]
    entities = [*links, *kiosks]
    for sid, name, system, agency, url, deps in services:
        entity = {"kind": "service", "id": sid, "name": name, "system": system, "agency": agency, "site": "dc-tinh",
                  "url": url, "interval_s": 30}  # fmt: skip
        if deps:
            entity["depends_on"] = deps
        if system == "dvc_portal":
            entity["expect_text"] = "Dịch vụ công"
        entities.append(entity)
    return {"agencies": agencies, "sites": sites, "entities": entities}


class FlowDumper(yaml.SafeDumper):
    pass


def _dict_rep(dumper: yaml.SafeDumper, data: dict) -> yaml.Node:
    # Entries as one-line flow mappings, sections as blocks: easy to read and to diff.
    flow_style = "kind" in data or "id" in data
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=flow_style)


FlowDumper.add_representer(dict, _dict_rep)


if __name__ == "__main__":
    sys.stdout.write("# Sample province inventory (contract section 3), generated by make_province.py.\n")
    sys.stdout.write(yaml.dump(province(), Dumper=FlowDumper, allow_unicode=True, sort_keys=False, width=200))
