"""identity.py — the persons printed on synthetic ID cards.

Reads the registry that `shiming demo-data` writes (registry.csv), picks the
card each person holds now, and derives what the card prints but the registry
does not hold: sex and birth date (from the ID number, GB 11643-1999), an
ethnicity (汉 mostly; a minority one where the name or the region makes it
plausible), and an address (住址) inside the region the number was issued in
(GB/T 2260 names from the project's data/ files, the same lists the core
compiles in).

Must never: invent a field that contradicts the registry or the number (sex,
birth date and issuing authority always agree with them), read the clock,
or depend on Python's randomised hash(): every choice comes from a
random.Random seeded by (seed, ID number), so the same inputs always give the
same person.
"""
import csv
import os
import random

# Placeholder names of city-level entries that group counties, never printed.
_CITY_PLACEHOLDERS = ("市辖区", "县", "市辖县", "省直辖县级行政区划", "自治区直辖县级行政区划")

_STREET_WORDS = [
    "建设", "人民", "解放", "中山", "和平", "胜利", "文化", "新华", "东风", "长江",
    "黄河", "青年", "光明", "幸福", "团结", "民主", "友谊", "朝阳", "花园", "育才",
    "红旗", "迎宾", "滨河", "振兴", "工农", "前进", "向阳", "长青", "北京", "复兴",
]
_STREET_KINDS = ["路", "街", "大道", "东路", "西路", "南路", "北路", "大街"]
_COMPOUNDS = [
    "阳光", "锦绣", "金色", "翠湖", "万和", "春晖", "嘉园", "盛世", "丽景", "怡和",
    "碧水", "御景", "康乐", "华府", "明珠", "新城",
]
_COMPOUND_KINDS = ["小区", "花园", "家园", "公寓", "新村", "苑"]
_TOWNS = [
    "城关", "新集", "马坊", "石桥", "张庄", "李家", "王营", "柳林", "南湖", "北山",
    "大河", "黄土", "双河", "太平", "长乐", "龙泉", "白沙", "清水", "高店", "三合",
]
_VILLAGES = [
    "前进", "红星", "大王", "小李", "东河", "西岭", "杨树", "桃园", "杏花", "新庄",
    "刘家", "赵湾", "上坪", "下坝", "沙窝", "团山", "石门", "五里", "梨树", "青龙",
]

# Regions (first two digits) where a minority ethnicity is common, with the
# ethnicities printed there and the share of cards that get one.
_MINORITY_BY_PROVINCE = {
    "15": (0.30, ["蒙古", "满", "回", "达斡尔"]),
    "21": (0.15, ["满", "蒙古", "回", "朝鲜"]),
    "22": (0.15, ["朝鲜", "满", "回", "蒙古"]),
    "23": (0.08, ["满", "朝鲜", "蒙古", "回"]),
    "43": (0.15, ["土家", "苗", "侗", "瑶"]),
    "45": (0.35, ["壮", "瑶", "苗", "侗", "仫佬"]),
    "46": (0.15, ["黎", "苗"]),
    "50": (0.05, ["土家", "苗"]),
    "51": (0.08, ["彝", "藏", "羌"]),
    "52": (0.35, ["苗", "布依", "侗", "土家", "彝", "水"]),
    "53": (0.35, ["彝", "白", "哈尼", "傣", "纳西", "傈僳", "拉祜"]),
    "54": (0.85, ["藏", "门巴", "珞巴"]),
    "62": (0.08, ["回", "藏", "东乡", "裕固"]),
    "63": (0.45, ["藏", "回", "土", "撒拉", "蒙古"]),
    "64": (0.35, ["回"]),
    "65": (0.40, ["维吾尔", "哈萨克", "回", "柯尔克孜", "蒙古"]),
}


def load_regions(data_dir):
    """code (6 digits) -> name, the latest name each code was published under
    (the current list wins over the yearly ones)."""
    names = {}
    yearly = os.path.join(data_dir, "gbt2260_1980_2020.csv")
    current = os.path.join(data_dir, "gbt2260_2021_current.csv")
    with open(yearly, encoding="utf-8", newline="") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: int(r["year"]))
        for r in rows:
            names[r["code"]] = r["name"]
    with open(current, encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            names[r["code"]] = r["name"]
    return names


def region_prefix(names, code):
    """The printed region part of an address: province, city, county."""
    prov = names.get(code[:2] + "0000", "")
    city = names.get(code[:4] + "00", "")
    county = names.get(code, "")
    if any(p in city for p in _CITY_PLACEHOLDERS) or "-" in city or city == prov:
        city = ""
    if county == city:
        county = ""
    return prov + city + county, county


def _street_address(rng, county):
    rural = county.endswith(("县", "旗")) and rng.random() < 0.6
    if rural:
        parts = [rng.choice(_TOWNS) + rng.choice(["镇", "乡"]),
                 rng.choice(_VILLAGES) + "村"]
        if rng.random() < 0.6:
            parts.append("%d组" % rng.randint(1, 12))
        parts.append("%d号" % rng.randint(1, 199))
        return "".join(parts)
    s = rng.choice(_STREET_WORDS) + rng.choice(_STREET_KINDS) + "%d号" % rng.randint(1, 999)
    r = rng.random()
    if r < 0.35:
        s += "%d栋%d单元%d室" % (rng.randint(1, 30), rng.randint(1, 6),
                             rng.randint(1, 32) * 100 + rng.randint(1, 4))
    elif r < 0.65:
        s = (rng.choice(_STREET_WORDS) + rng.choice(_STREET_KINDS) +
             rng.choice(_COMPOUNDS) + rng.choice(_COMPOUND_KINDS) +
             "%d号楼%d单元%d号" % (rng.randint(1, 40), rng.randint(1, 6),
                               rng.randint(1, 28) * 100 + rng.randint(1, 4)))
    return s


def _ethnicity(rng, name, code):
    if "·" in name:  # transliterated names: mostly Uyghur or Kazakh
        return rng.choice(["维吾尔", "维吾尔", "维吾尔", "哈萨克"]) if code[:2] == "65" else "维吾尔"
    share, choices = _MINORITY_BY_PROVINCE.get(code[:2], (0.02, ["回", "满", "壮", "蒙古"]))
    if rng.random() < share:
        return rng.choice(choices)
    return "汉"


def _pick_card(rows):
    """The card the person holds now: the latest one not reported lost,
    preferring second-generation cards (issued from 2004 on)."""
    rows = sorted(rows, key=lambda r: r["valid_from"])
    for cond in (lambda r: r["lost"] == "0" and r["valid_from"] >= "20040101",
                 lambda r: r["lost"] == "0",
                 lambda r: True):
        held = [r for r in rows if cond(r)]
        if held:
            return held[-1]
    return rows[-1]


def load_persons(registry_csv, data_dir, seed):
    """One dict per person, in registry order (first appearance)."""
    names = load_regions(data_dir)
    by_id = {}
    order = []
    with open(registry_csv, encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            if r["id_number"] not in by_id:
                by_id[r["id_number"]] = []
                order.append(r["id_number"])
            by_id[r["id_number"]].append(r)
    persons = []
    for idn in order:
        card = _pick_card(by_id[idn])
        rng = random.Random("person:%s:%s" % (seed, idn))
        code = idn[:6]
        prefix, county = region_prefix(names, code)
        # A real card holds at most three lines of eleven characters.
        for _ in range(20):
            address = prefix + _street_address(rng, county)
            if len(address) <= 33:
                break
        else:
            address = prefix[:33]
        valid_to = "长期" if card["valid_to"] == "00000000" else card["valid_to"]
        persons.append({
            "name": card["name"],
            "sex": "男" if int(idn[16]) % 2 == 1 else "女",
            "ethnicity": _ethnicity(rng, card["name"], code),
            "birth": idn[6:14],
            "address": address,
            "id_number": idn,
            "authority": card["issuing_authority"],
            "valid_from": card["valid_from"],
            "valid_to": valid_to,
        })
    return persons
