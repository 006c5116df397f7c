"""The fixed tables the demo data is drawn from: stores, teams, staff, names, products.

Everything here is data, not behaviour, so the README can quote it and the seeding code
stays short. Email addresses use the reserved ``example.*`` domains and foreign phone
numbers the fictional US 555-01xx range, so nothing seeded can reach a real person by
mail or WhatsApp. Chinese mobile numbers have no fictional range: demo databases must
not be connected to a real SMS provider.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

DEMO_PASSWORD = "omniservice-demo"  # noqa: S105 - published on purpose, for the demo logins
DEMO_EMAIL_DOMAIN = "demo.omniservice.example"
DEMO_SOURCE = "demo"
# Every demo customer's public id starts with this; it never moves in a merge.
DEMO_PUBLIC_ID_PREFIX = "cus_d3m0"
CURRENCY = "CNY"
HISTORY_DAYS = 365

_MALL_HOURS = {day: [["10:00", "22:00"]] for day in ("mon", "tue", "wed", "thu", "sun")} | {
    "fri": [["10:00", "22:30"]],
    "sat": [["10:00", "22:30"]],
}
_STREET_HOURS = {day: [["09:30", "21:30"]] for day in ("mon", "tue", "wed", "thu", "fri")} | {
    "sat": [["09:30", "22:00"]],
    "sun": [["10:00", "21:00"]],
}


@dataclass(frozen=True)
class StoreSpec:
    code: str
    name: str
    name_en: str
    city: str
    address: str
    phone: str
    opening_hours: dict[str, list[list[str]]]
    weight: int  # share of the customers who call it their home store


STORES: tuple[StoreSpec, ...] = (
    StoreSpec(
        "sh-001",
        "上海南京西路旗舰店",
        "Shanghai West Nanjing Road Flagship",
        "上海",
        "上海市静安区南京西路1266号恒隆广场2楼",
        "+86 21 6288 0101",
        _MALL_HOURS,
        30,
    ),
    StoreSpec(
        "bj-001",
        "北京三里屯店",
        "Beijing Sanlitun",
        "北京",
        "北京市朝阳区三里屯路19号太古里南区S8-12",
        "+86 10 6417 0202",
        _MALL_HOURS,
        22,
    ),
    StoreSpec(
        "sz-001",
        "深圳万象城店",
        "Shenzhen MixC",
        "深圳",
        "深圳市罗湖区宝安南路1881号华润万象城B1层",
        "+86 755 8266 0303",
        _MALL_HOURS,
        15,
    ),
    StoreSpec(
        "gz-001",
        "广州天河路店",
        "Guangzhou Tianhe Road",
        "广州",
        "广州市天河区天河路208号天河城3楼",
        "+86 20 8559 0404",
        _MALL_HOURS,
        13,
    ),
    StoreSpec(
        "cd-001",
        "成都春熙路店",
        "Chengdu Chunxi Road",
        "成都",
        "成都市锦江区春熙路北段88号",
        "+86 28 8665 0505",
        _STREET_HOURS,
        10,
    ),
    StoreSpec(
        "hz-001",
        "杭州湖滨店",
        "Hangzhou Hubin",
        "杭州",
        "杭州市上城区延安路258号湖滨银泰in77 C区",
        "+86 571 8702 0606",
        _STREET_HOURS,
        10,
    ),
)

SKILLS: tuple[tuple[str, str], ...] = (
    ("orders", "订单与物流 / Orders & delivery"),
    ("returns", "退换货 / Returns"),
    ("repairs", "维修 / Repairs"),
    ("vip", "VIP 客户 / VIP customers"),
    ("electronics", "数码电子 / Electronics"),
    ("apparel", "服饰 / Apparel"),
)


@dataclass(frozen=True)
class TeamSpec:
    slug: str
    name: str
    description: str


TEAMS: tuple[TeamSpec, ...] = (
    TeamSpec(
        "online-support",
        "在线客服 / Online support",
        "Chat, WeChat, email and WhatsApp for every customer.",
    ),
    TeamSpec("vip-care", "VIP 关怀 / VIP care", "Gold and VIP customers, proactive outreach."),
    TeamSpec(
        "returns-repairs",
        "退换与维修 / Returns & repairs",
        "Returns, exchanges, warranty and repairs, with the stores.",
    ),
)


def store_team_slug(store_code: str) -> str:
    return f"store-{store_code}"


@dataclass(frozen=True)
class StaffSpec:
    username: str
    role: str
    display_name: str
    languages: list[str]
    teams: tuple[str, ...] = ()
    skills: tuple[str, ...] = ()
    home_store: str | None = None
    capacity: dict[str, int] | None = None
    leads: tuple[str, ...] = field(default=())


ZH, EN = "zh-hans", "en"
STAFF: tuple[StaffSpec, ...] = (
    StaffSpec("admin", "admin", "系统管理员 Admin", [ZH, EN]),
    StaffSpec(
        "manager",
        "manager",
        "陈静 Chen Jing",
        [ZH, EN],
        teams=("online-support", "vip-care", "returns-repairs"),
        skills=("vip",),
        leads=("online-support", "vip-care", "returns-repairs"),
    ),
    StaffSpec("agent1", "agent", "王磊", [ZH], ("online-support",), ("orders", "electronics")),
    StaffSpec("agent2", "agent", "李娜", [ZH], ("online-support",), ("orders", "apparel")),
    StaffSpec(
        "agent3",
        "agent",
        "张伟 Wei Zhang",
        [ZH, EN],
        ("vip-care",),
        ("vip", "electronics"),
        capacity={"chat": 4, "email": 15, "phone": 1},
    ),
    StaffSpec(
        "agent4",
        "agent",
        "Emily Carter",
        [EN],
        ("online-support", "vip-care"),
        ("vip", "apparel", "orders"),
    ),
    StaffSpec(
        "agent5", "agent", "刘洋", [ZH], ("returns-repairs",), ("returns", "repairs", "electronics")
    ),
    StaffSpec(
        "agent6",
        "agent",
        "Tom Becker",
        [EN, ZH],
        ("returns-repairs", "online-support"),
        ("returns", "repairs"),
    ),
    StaffSpec(
        "agent7",
        "agent",
        "赵敏",
        [ZH, EN],
        ("online-support",),
        ("apparel", "returns"),
        capacity={"chat": 6, "email": 20, "phone": 1},
    ),
    StaffSpec("agent8", "agent", "周杰", [ZH], ("vip-care",), ("vip", "orders")),
    StaffSpec(
        "sh-staff1",
        "store_staff",
        "孙丽 (上海)",
        [ZH, EN],
        (store_team_slug("sh-001"),),
        ("apparel", "returns"),
        home_store="sh-001",
        leads=(store_team_slug("sh-001"),),
    ),
    StaffSpec(
        "sh-staff2",
        "store_staff",
        "吴强 (上海)",
        [ZH],
        (store_team_slug("sh-001"),),
        ("electronics", "repairs"),
        home_store="sh-001",
    ),
    StaffSpec(
        "bj-staff1",
        "store_staff",
        "郭婷 (北京)",
        [ZH, EN],
        (store_team_slug("bj-001"),),
        ("apparel", "returns"),
        home_store="bj-001",
        leads=(store_team_slug("bj-001"),),
    ),
    StaffSpec(
        "bj-staff2",
        "store_staff",
        "马超 (北京)",
        [ZH],
        (store_team_slug("bj-001"),),
        ("electronics", "repairs"),
        home_store="bj-001",
    ),
    StaffSpec(
        "sz-staff1",
        "store_staff",
        "林晓明 (深圳)",
        [ZH],
        (store_team_slug("sz-001"),),
        ("electronics", "repairs"),
        home_store="sz-001",
        leads=(store_team_slug("sz-001"),),
    ),
    StaffSpec(
        "gz-staff1",
        "store_staff",
        "梁慧 (广州)",
        [ZH],
        (store_team_slug("gz-001"),),
        ("apparel", "returns"),
        home_store="gz-001",
        leads=(store_team_slug("gz-001"),),
    ),
    StaffSpec(
        "cd-staff1",
        "store_staff",
        "彭博 (成都)",
        [ZH],
        (store_team_slug("cd-001"),),
        ("apparel", "electronics"),
        home_store="cd-001",
        leads=(store_team_slug("cd-001"),),
    ),
    StaffSpec(
        "hz-staff1",
        "store_staff",
        "沈佳 (杭州)",
        [ZH],
        (store_team_slug("hz-001"),),
        ("apparel", "returns"),
        home_store="hz-001",
        leads=(store_team_slug("hz-001"),),
    ),
)
DEMO_USERNAMES = tuple(spec.username for spec in STAFF)

# Surnames with a rough frequency weight, and given names, each with its pinyin.
SURNAMES: tuple[tuple[str, str, int], ...] = (
    ("王", "wang", 72),
    ("李", "li", 70),
    ("张", "zhang", 66),
    ("刘", "liu", 53),
    ("陈", "chen", 45),
    ("杨", "yang", 33),
    ("黄", "huang", 24),
    ("赵", "zhao", 21),
    ("吴", "wu", 20),
    ("周", "zhou", 20),
    ("徐", "xu", 14),
    ("孙", "sun", 14),
    ("马", "ma", 12),
    ("朱", "zhu", 12),
    ("胡", "hu", 11),
    ("郭", "guo", 11),
    ("何", "he", 10),
    ("林", "lin", 10),
    ("高", "gao", 10),
    ("罗", "luo", 9),
    ("郑", "zheng", 9),
    ("梁", "liang", 8),
    ("谢", "xie", 7),
    ("宋", "song", 6),
    ("唐", "tang", 6),
    ("许", "xu", 6),
    ("韩", "han", 6),
    ("冯", "feng", 5),
    ("邓", "deng", 5),
    ("曹", "cao", 5),
    ("彭", "peng", 5),
    ("曾", "zeng", 5),
    ("肖", "xiao", 5),
    ("田", "tian", 4),
    ("董", "dong", 4),
    ("潘", "pan", 4),
    ("袁", "yuan", 4),
    ("蔡", "cai", 4),
    ("蒋", "jiang", 4),
    ("余", "yu", 4),
    ("叶", "ye", 4),
    ("程", "cheng", 3),
    ("苏", "su", 3),
    ("吕", "lv", 3),
    ("沈", "shen", 3),
    ("欧阳", "ouyang", 1),
    ("司马", "sima", 1),
)
GIVEN_NAMES: tuple[tuple[str, str], ...] = (
    ("伟", "wei"),
    ("芳", "fang"),
    ("娜", "na"),
    ("敏", "min"),
    ("静", "jing"),
    ("丽", "li"),
    ("强", "qiang"),
    ("磊", "lei"),
    ("军", "jun"),
    ("洋", "yang"),
    ("勇", "yong"),
    ("艳", "yan"),
    ("杰", "jie"),
    ("涛", "tao"),
    ("明", "ming"),
    ("超", "chao"),
    ("秀英", "xiuying"),
    ("霞", "xia"),
    ("刚", "gang"),
    ("桂英", "guiying"),
    ("华", "hua"),
    ("慧", "hui"),
    ("建华", "jianhua"),
    ("欣怡", "xinyi"),
    ("子涵", "zihan"),
    ("浩然", "haoran"),
    ("梓轩", "zixuan"),
    ("雨欣", "yuxin"),
    ("宇轩", "yuxuan"),
    ("思彤", "sitong"),
    ("俊杰", "junjie"),
    ("晨", "chen"),
    ("婷", "ting"),
    ("鑫", "xin"),
    ("博", "bo"),
    ("佳", "jia"),
    ("琳", "lin"),
    ("瑶", "yao"),
    ("凯", "kai"),
    ("鹏", "peng"),
    ("颖", "ying"),
    ("雪", "xue"),
    ("倩", "qian"),
    ("宁", "ning"),
    ("一鸣", "yiming"),
    ("嘉怡", "jiayi"),
    ("诗涵", "shihan"),
    ("志强", "zhiqiang"),
    ("文博", "wenbo"),
    ("海燕", "haiyan"),
    ("晓明", "xiaoming"),
    ("丹", "dan"),
    ("斌", "bin"),
    ("亮", "liang"),
    ("飞", "fei"),
    ("梦琪", "mengqi"),
    ("天宇", "tianyu"),
    ("若曦", "ruoxi"),
)
ENGLISH_FIRST_NAMES: tuple[str, ...] = (
    "Emma",
    "Olivia",
    "Ava",
    "Sophia",
    "Isabella",
    "Mia",
    "Charlotte",
    "Amelia",
    "Harper",
    "Evelyn",
    "Liam",
    "Noah",
    "Oliver",
    "Elijah",
    "James",
    "William",
    "Benjamin",
    "Lucas",
    "Henry",
    "Alexander",
    "Daniel",
    "Matthew",
    "David",
    "Sarah",
    "Emily",
    "Hannah",
    "Jessica",
    "Laura",
    "Michael",
    "Thomas",
    "Jack",
    "Chloe",
    "Grace",
    "Lily",
    "Ethan",
    "Ryan",
    "Sophie",
    "Anna",
    "Lucy",
    "George",
)
ENGLISH_LAST_NAMES: tuple[str, ...] = (
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Wilson",
    "Taylor",
    "Anderson",
    "Thomas",
    "Moore",
    "Martin",
    "Jackson",
    "Thompson",
    "White",
    "Harris",
    "Clark",
    "Lewis",
    "Walker",
    "Hall",
    "Young",
    "King",
    "Wright",
    "Scott",
    "Green",
    "Baker",
    "Adams",
    "Nelson",
    "Murphy",
    "Kelly",
    "Cooper",
    "Evans",
    "Roberts",
    "O'Brien",
    "Dubois",
    "Rossi",
    "Schmidt",
    "Novak",
)
EMAIL_DOMAINS = ("example.com", "example.net", "example.org")
# Mobile prefixes that phonenumbers accepts as valid Chinese mobile numbers.
CN_MOBILE_PREFIXES = (
    *(str(p) for p in range(130, 140)),
    "147",
    "150",
    "151",
    "152",
    "153",
    "155",
    "156",
    "157",
    "158",
    "159",
    "166",
    "173",
    "176",
    "177",
    "178",
    *(str(p) for p in range(180, 190)),
    "191",
    "198",
    "199",
)
# US area codes whose 555-0100..0199 numbers are reserved for fiction.
US_FICTIONAL_AREA_CODES = ("202", "212", "310", "312", "415", "617", "646", "702", "206", "305")
FOREIGN_TIMEZONES = (
    "Asia/Hong_Kong",
    "Asia/Singapore",
    "Europe/London",
    "America/New_York",
    "Australia/Sydney",
)


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    name_en: str
    price: Decimal
    category: str


def _p(sku: str, name: str, name_en: str, price: str, category: str) -> Product:
    return Product(sku, name, name_en, Decimal(price), category)


PRODUCTS: tuple[Product, ...] = (
    _p("EL-1001", "无线降噪耳机", "Wireless noise-cancelling headphones", "1299.00", "electronics"),
    _p("EL-1002", "智能手表", "Smart watch", "1899.00", "electronics"),
    _p("EL-1003", "便携蓝牙音箱", "Portable Bluetooth speaker", "499.00", "electronics"),
    _p("EL-1004", "20000毫安移动电源", "20,000 mAh power bank", "199.00", "electronics"),
    _p("EL-1005", "11英寸平板电脑", "11-inch tablet", "3299.00", "electronics"),
    _p("EL-1006", "机械键盘", "Mechanical keyboard", "699.00", "electronics"),
    _p("EL-1007", "真无线耳机", "True wireless earbuds", "799.00", "electronics"),
    _p("EL-1008", "65W 氮化镓充电器", "65 W GaN charger", "149.00", "electronics"),
    _p("EL-1009", "电子阅读器", "E-reader", "999.00", "electronics"),
    _p("AP-2001", "轻量羽绒服", "Light down jacket", "1599.00", "apparel"),
    _p("AP-2002", "纯棉圆领T恤", "Cotton crew-neck T-shirt", "129.00", "apparel"),
    _p("AP-2003", "修身牛仔裤", "Slim-fit jeans", "399.00", "apparel"),
    _p("AP-2004", "羊毛围巾", "Wool scarf", "259.00", "apparel"),
    _p("AP-2005", "缓震跑步鞋", "Cushioned running shoes", "699.00", "apparel"),
    _p("AP-2006", "印花连衣裙", "Printed summer dress", "459.00", "apparel"),
    _p("AP-2007", "通勤双肩包", "Commuter backpack", "349.00", "apparel"),
    _p("AP-2008", "牛津纺衬衫", "Oxford shirt", "299.00", "apparel"),
    _p("AP-2009", "连帽卫衣", "Hooded sweatshirt", "359.00", "apparel"),
)

RETURN_REASONS = ("size", "defective", "changed_mind", "not_as_described", "late_delivery")
STORE_VISIT_PURPOSES = ("browse", "fitting", "pickup", "repair", "exchange", "consultation")
BROWSE_PAGES = ("product", "product", "product", "category", "search", "promotion", "cart")
SEARCH_TERMS = ("耳机", "羽绒服", "跑步鞋", "手表", "headphones", "jacket", "backpack", "充电器")

# (rating, topic) -> comment, in the customer's language.
FEEDBACK_COMMENTS: dict[str, dict[int, tuple[str, ...]]] = {
    ZH: {
        5: ("服务很好，发货也快！", "店员很专业，耐心帮我挑选。", "质量超出预期，会回购。"),
        4: ("整体满意，包装可以再好一点。", "东西不错，物流稍慢。"),
        3: ("一般，和描述差不多。", "客服回复有点慢。"),
        2: ("尺码偏小，换货流程麻烦。", "等了很久才有人回复。"),
        1: ("收到的商品有损坏，很失望。", "退款一直没到账，体验很差。"),
    },
    EN: {
        5: ("Great service and fast delivery!", "The staff in store were really helpful."),
        4: ("Happy overall, packaging could be better.", "Good product, delivery a bit slow."),
        3: ("It's okay, as described.", "Support took a while to answer."),
        2: ("Runs small and the exchange was a hassle.", "Waited too long for a reply."),
        1: ("Item arrived damaged, very disappointed.", "Still waiting for my refund."),
    },
}
FEEDBACK_TOPICS = ("delivery", "product", "store", "support", "returns")

TAGS_LOYAL = "老客户"
TAGS_RANDOM: tuple[tuple[str, float], ...] = (
    ("birthday-club", 0.10),
    ("student", 0.05),
    ("corporate", 0.03),
    ("小红书达人", 0.02),
)
