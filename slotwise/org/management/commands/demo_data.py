"""Load the five demo organisations (one per case), each in its own language, time zone and currency.

Deterministic (fixed random seed) and idempotent: an organisation whose slug already exists is not
created again; its demo users only get the demo password back. Every demo login uses the password
``slotwise-demo`` (DEMO_PASSWORD). Usernames are ``<prefix>-<role>`` with the prefixes se, la, msk,
fleet and nl, e.g. ``nl-admin``, ``la-tech``, ``msk-customer``.
"""

from __future__ import annotations

import os
import random
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand
from django.db import transaction

from slotwise.customers.services import contact_create
from slotwise.messaging.demo import messaging_demo
from slotwise.onboarding.demo import onboarding_demo
from slotwise.org.models import Organisation, Region, Skill, Staff
from slotwise.org.roles import Role
from slotwise.org.services import location_create, org_unit_create, region_save, staff_create
from slotwise.scheduling.models import (
    AppointmentMode,
    AppointmentType,
    AppointmentTypeSkill,
    Prepayment,
    SchedulingPolicy,
    WorkingHours,
)
from slotwise.workorders.demo import workorders_demo

DEMO_PASSWORD = "slotwise-demo"
SEED = 20260101
ACTIVE_FROM = date(2025, 1, 1)

# Weekly patterns (Mon–Fri); a "split" day has a lunch break, "parttime" has Wednesday afternoon off.
HOURS = {
    "day": [(time(8, 30), time(17, 0))],
    "early": [(time(7, 30), time(16, 0))],
    "split": [(time(9, 0), time(12, 0)), (time(13, 0), time(17, 30))],
}

# Staff: (username suffix, first, last, roles, unit key, title, skills {code: level}, regions, hours, home)
# home: (postcode, address, city) or None. Customers: (username suffix or None, first, last, phone, home).
ORGS = [
    {
        "prefix": "se",
        "slug": "samtalsbolaget",
        "name": "Samtalsbolaget",
        "country": "SE",
        "time_zone": "Europe/Stockholm",
        "currency": "SEK",
        "language": "sv",
        "units": [
            ("root", "Samtalsbolaget", None, "department"),
            ("sthlm", "Stockholm", "root", "branch"),
            ("gbg", "Göteborg", "root", "branch"),
            ("ledarskap", "Ledarskapscoachning", "sthlm", "team"),
        ],
        "regions": [
            ("Stockholm innerstad", "111-118"),
            ("Solna", "169-171"),
            ("Göteborg", "411-418"),
        ],
        "skills": [
            ("ledarskap", "Ledarskap"),
            ("karriar", "Karriärcoachning"),
            ("stress", "Stresshantering"),
        ],
        "staff": [
            ("admin", "Anna", "Lindqvist", [Role.ORG_ADMIN], "root", "VD", {}, [], None, None),
            (
                "manager",
                "Johan",
                "Bergström",
                [Role.MANAGER],
                "sthlm",
                "Kontorschef",
                {},
                [],
                None,
                None,
            ),
            (
                "rep",
                "Sofia",
                "Nyberg",
                [Role.REPRESENTATIVE],
                "ledarskap",
                "Coach",
                {"ledarskap": 5, "stress": 3},
                ["Stockholm innerstad", "Solna"],
                "split",
                ("113 56", "Odengatan 40", "Stockholm"),
            ),
            (
                "rep2",
                "Erik",
                "Holm",
                [Role.REPRESENTATIVE],
                "gbg",
                "Coach",
                {"karriar": 4, "stress": 4},
                ["Göteborg"],
                "day",
                ("411 05", "Kungsgatan 12", "Göteborg"),
            ),
            (
                "tech",
                "Lars",
                "Ekström",
                [Role.TECHNICIAN],
                "sthlm",
                "Tekniker (videomöten)",
                {},
                ["Stockholm innerstad"],
                "day",
                ("116 45", "Götgatan 22", "Stockholm"),
            ),
        ],
        "customers": [
            ("customer", "Maja", "Karlsson", "+46701234567", ("111 52", "Vasagatan 7", "Stockholm"))
        ],
        "extra_names": (
            ["Oskar", "Elin", "Hugo", "Ebba", "Axel", "Wilma", "Nils", "Alva"],
            ["Andersson", "Johansson", "Persson", "Nilsson", "Svensson", "Larsson"],
        ),
        "phone": "+4670{:07d}",
        "addresses": [
            ("111 52", "Drottninggatan 50", "Stockholm"),
            ("171 64", "Solnavägen 3", "Solna"),
            ("412 58", "Eklandagatan 20", "Göteborg"),
        ],
    },
    {
        "prefix": "la",
        "slug": "fixright",
        "name": "FixRight Home Repair",
        "country": "US",
        "time_zone": "America/Los_Angeles",
        "currency": "USD",
        "language": "en",
        "units": [
            ("root", "FixRight Home Repair", None, "department"),
            ("dispatch", "Los Angeles Dispatch", "root", "branch"),
            ("west", "Westside Crew", "dispatch", "team"),
            ("valley", "Valley Crew", "dispatch", "team"),
        ],
        "regions": [
            ("Downtown LA", "90001-90023"),
            ("Westside", "90024-90025, 90034, 90045, 90064, 90066, 904"),
            ("San Fernando Valley", "913-914, 91601-91609"),
            ("South Bay", "902"),
        ],
        "skills": [
            ("plumbing", "Plumbing"),
            ("electrical", "Electrical"),
            ("hvac", "HVAC"),
            ("appliance", "Appliance repair"),
        ],
        "staff": [
            ("admin", "Jennifer", "Walsh", [Role.ORG_ADMIN], "root", "Owner", {}, [], None, None),
            (
                "manager",
                "Marcus",
                "Johnson",
                [Role.MANAGER],
                "dispatch",
                "Dispatcher",
                {},
                [],
                None,
                None,
            ),
            (
                "rep",
                "Ashley",
                "Nguyen",
                [Role.REPRESENTATIVE],
                "dispatch",
                "Customer advisor",
                {},
                ["Downtown LA", "Westside"],
                "day",
                ("90012", "200 N Spring St", "Los Angeles"),
            ),
            (
                "tech",
                "Carlos",
                "Ramirez",
                [Role.TECHNICIAN],
                "west",
                "Plumber",
                {"plumbing": 5, "hvac": 3},
                ["Westside", "Downtown LA"],
                "early",
                ("90034", "3500 Overland Ave", "Los Angeles"),
            ),
            (
                "tech2",
                "Kevin",
                "O'Brien",
                [Role.TECHNICIAN],
                "valley",
                "Electrician",
                {"electrical": 5, "appliance": 4},
                ["San Fernando Valley"],
                "early",
                ("91601", "5200 Lankershim Blvd", "North Hollywood"),
            ),
            (
                "tech3",
                "Priya",
                "Patel",
                [Role.TECHNICIAN],
                "west",
                "HVAC technician",
                {"hvac": 5, "appliance": 3, "electrical": 2},
                ["Westside", "South Bay"],
                "split",
                ("90045", "6100 W Manchester Ave", "Los Angeles"),
            ),
        ],
        "customers": [
            (
                "customer",
                "Emily",
                "Carter",
                "+12135550123",
                ("90024", "1100 Glendon Ave", "Los Angeles"),
            )
        ],
        "extra_names": (
            ["James", "Olivia", "Michael", "Sophia", "Daniel", "Isabella", "Ryan", "Grace"],
            ["Smith", "Garcia", "Miller", "Davis", "Martinez", "Lee"],
        ),
        "phone": "+1310555{:04d}",
        "addresses": [
            ("90401", "1400 Ocean Ave", "Santa Monica"),
            ("91403", "4500 Van Nuys Blvd", "Sherman Oaks"),
            ("90012", "300 S Broadway", "Los Angeles"),
        ],
    },
    {
        "prefix": "msk",
        "slug": "remstroy",
        "name": "РемСтрой",
        "country": "RU",
        "time_zone": "Europe/Moscow",
        "currency": "RUB",
        "language": "ru",
        "units": [
            ("root", "РемСтрой", None, "department"),
            ("sales", "Отдел продаж", "root", "department"),
            ("callcentre", "Колл-центр", "sales", "team"),
            ("production", "Производственный отдел", "root", "department"),
            ("crew1", "Бригада № 1", "production", "team"),
            ("crew2", "Бригада № 2", "production", "team"),
        ],
        "regions": [("Центр", "101-109"), ("Юго-Запад", "117-119"), ("Север", "125-127")],
        "skills": [
            ("electrical", "Электромонтаж"),
            ("plumbing", "Сантехника"),
            ("tiling", "Плиточные работы"),
            ("plaster", "Штукатурка"),
            ("painting", "Малярные работы"),
        ],
        "staff": [
            (
                "admin",
                "Ольга",
                "Смирнова",
                [Role.ORG_ADMIN],
                "root",
                "Генеральный директор",
                {},
                [],
                None,
                None,
            ),
            (
                "hod",
                "Андрей",
                "Кузнецов",
                [Role.HEAD_OF_DEPARTMENT],
                "production",
                "Начальник отдела",
                {},
                [],
                None,
                None,
            ),
            (
                "manager",
                "Дмитрий",
                "Волков",
                [Role.MANAGER],
                "production",
                "Диспетчер",
                {},
                [],
                None,
                None,
            ),
            (
                "rep",
                "Екатерина",
                "Попова",
                [Role.REPRESENTATIVE],
                "sales",
                "Менеджер по работе с клиентами",
                {},
                ["Центр", "Юго-Запад"],
                "day",
                ("105005", "ул. Бауманская, 10", "Москва"),
            ),
            (
                "tech",
                "Сергей",
                "Морозов",
                [Role.TECHNICIAN],
                "crew1",
                "Электрик",
                {"electrical": 5, "plumbing": 3},
                ["Центр", "Север"],
                "early",
                ("125040", "Ленинградский пр-т, 15", "Москва"),
            ),
            (
                "callcentre",
                "Наталья",
                "Лебедева",
                [Role.CALL_CENTRE],
                "callcentre",
                "Оператор",
                {},
                [],
                None,
                None,
            ),
            (
                "pm",
                "Игорь",
                "Соколов",
                [Role.PROJECT_MANAGER],
                "production",
                "Руководитель проектов",
                {},
                [],
                None,
                None,
            ),
            (
                "estimator",
                "Алексей",
                "Новиков",
                [Role.ESTIMATOR],
                "sales",
                "Сметчик",
                {},
                ["Центр", "Юго-Запад", "Север"],
                "split",
                ("117036", "ул. Дмитрия Ульянова, 7", "Москва"),
            ),
            (
                "measurer",
                "Павел",
                "Фёдоров",
                [Role.MEASURER],
                "sales",
                "Замерщик",
                {},
                ["Центр", "Юго-Запад", "Север"],
                "day",
                ("109012", "ул. Ильинка, 4", "Москва"),
            ),
            (
                "foreman",
                "Николай",
                "Васильев",
                [Role.FOREMAN],
                "crew2",
                "Прораб",
                {"tiling": 5, "plaster": 4, "painting": 4},
                ["Юго-Запад"],
                "early",
                ("119021", "ул. Тимура Фрунзе, 11", "Москва"),
            ),
        ],
        "customers": [
            (
                "customer",
                "Ирина",
                "Козлова",
                "+79161234567",
                ("119048", "ул. Усачёва, 33", "Москва"),
            )
        ],
        "extra_names": (
            ["Мария", "Александр", "Анна", "Михаил", "Елена", "Владимир", "Татьяна", "Максим"],
            ["Иванова", "Петров", "Сидорова", "Кузьмин", "Орлова", "Никитин"],
        ),
        "phone": "+7916{:07d}",
        "addresses": [
            ("101000", "ул. Мясницкая, 24", "Москва"),
            ("127015", "ул. Новодмитровская, 2", "Москва"),
            ("117418", "Нахимовский пр-т, 32", "Москва"),
        ],
    },
    {
        "prefix": "fleet",
        "slug": "driveon",
        "name": "DriveOn Fleet Onboarding",
        "country": "RU",
        "time_zone": "Europe/Moscow",
        "currency": "RUB",
        "language": "ru",
        "units": [
            ("root", "DriveOn", None, "department"),
            ("onboarding", "Подключение водителей", "root", "department"),
            ("city", "Офис «Москва-Сити»", "onboarding", "branch"),
            ("savyol", "Офис «Савёловская»", "onboarding", "branch"),
        ],
        "regions": [("Москва — запад", "121-123"), ("Москва — север", "125-127")],
        "skills": [
            ("documents", "Проверка документов"),
            ("inspection", "Осмотр автомобиля"),
            ("branding", "Брендирование"),
        ],
        "staff": [
            (
                "admin",
                "Марина",
                "Орлова",
                [Role.ORG_ADMIN],
                "root",
                "Руководитель парка",
                {},
                [],
                None,
                None,
            ),
            (
                "manager",
                "Артём",
                "Зайцев",
                [Role.MANAGER],
                "onboarding",
                "Руководитель подключения",
                {},
                [],
                None,
                None,
            ),
            (
                "rep",
                "Юлия",
                "Павлова",
                [Role.REPRESENTATIVE],
                "city",
                "Специалист по подключению",
                {"documents": 5},
                ["Москва — запад"],
                "split",
                ("123112", "Пресненская наб., 12", "Москва"),
            ),
            (
                "tech",
                "Руслан",
                "Гусев",
                [Role.TECHNICIAN],
                "savyol",
                "Механик-осмотрщик",
                {"inspection": 5, "branding": 4},
                ["Москва — север"],
                "day",
                ("127015", "Бутырская ул., 46", "Москва"),
            ),
        ],
        "customers": [
            (
                "customer",
                "Тимур",
                "Ахмедов",
                "+79261234567",
                ("125167", "Ленинградский пр-т, 39", "Москва"),
            )
        ],
        "extra_names": (
            ["Рустам", "Денис", "Бахтиёр", "Олег", "Азамат", "Кирилл", "Виктор", "Ильдар"],
            ["Каримов", "Юсупов", "Белов", "Морозов", "Рахимов", "Григорьев"],
        ),
        "phone": "+7925{:07d}",
        "addresses": [
            ("123100", "Краснопресненская наб., 8", "Москва"),
            ("127018", "ул. Сущёвский Вал, 5", "Москва"),
        ],
    },
    {
        "prefix": "nl",
        "slug": "adviesgroep",
        "name": "Adviesgroep Nederland",
        "country": "NL",
        "time_zone": "Europe/Amsterdam",
        "currency": "EUR",
        "language": "nl",
        "units": [
            ("root", "Adviesgroep Nederland", None, "department"),
            ("private", "Particulieren", "root", "department"),
            ("mortgage", "Hypotheekadvies", "private", "team"),
            ("pension", "Pensioenadvies", "private", "team"),
            ("business", "Zakelijk", "root", "department"),
            ("smb", "MKB-advies", "business", "team"),
        ],
        "regions": [
            ("Amsterdam", "1000-1099"),
            ("Utrecht", "3500-3599"),
            ("Rotterdam", "3000-3099"),
            ("Den Haag", "2500-2599"),
        ],
        "skills": [
            ("hypotheek", "Hypotheekadvies"),
            ("pensioen", "Pensioenadvies"),
            ("verzekeringen", "Verzekeringen"),
            ("mkb", "Ondernemersadvies"),
        ],
        "staff": [
            (
                "admin",
                "Sanne",
                "de Vries",
                [Role.ORG_ADMIN],
                "root",
                "Directeur",
                {},
                [],
                None,
                None,
            ),
            (
                "manager",
                "Pieter",
                "Jansen",
                [Role.MANAGER],
                "private",
                "Teamleider Particulieren",
                {},
                [],
                None,
                None,
            ),
            (
                "rep",
                "Femke",
                "Bakker",
                [Role.REPRESENTATIVE],
                "mortgage",
                "Hypotheekadviseur",
                {"hypotheek": 5, "verzekeringen": 3},
                ["Amsterdam", "Utrecht"],
                "split",
                ("1071 AB", "Van Baerlestraat 20", "Amsterdam"),
            ),
            (
                "rep2",
                "Daan",
                "Visser",
                [Role.REPRESENTATIVE],
                "pension",
                "Pensioenadviseur",
                {"pensioen": 5, "verzekeringen": 4},
                ["Rotterdam", "Den Haag"],
                "day",
                ("3012 CL", "Coolsingel 40", "Rotterdam"),
            ),
            (
                "rep3",
                "Lotte",
                "Smit",
                [Role.REPRESENTATIVE],
                "smb",
                "Bedrijfsadviseur",
                {"mkb": 5, "verzekeringen": 2},
                ["Utrecht", "Amsterdam"],
                "day",
                ("3511 AX", "Oudegracht 100", "Utrecht"),
            ),
            (
                "tech",
                "Ruben",
                "Mulder",
                [Role.TECHNICIAN],
                "mortgage",
                "Taxateur",
                {},
                ["Amsterdam", "Utrecht", "Rotterdam", "Den Haag"],
                "early",
                ("2511 BT", "Spui 70", "Den Haag"),
            ),
        ],
        "customers": [
            ("customer", "Emma", "van Dijk", "+31612345678", ("1012 AB", "Damrak 1", "Amsterdam"))
        ],
        "extra_names": (
            ["Lucas", "Julia", "Sem", "Tess", "Finn", "Zoë", "Bram", "Noor"],
            ["de Jong", "van den Berg", "Bos", "Vermeulen", "Meijer", "de Graaf"],
        ),
        "phone": "+3161{:07d}",
        "addresses": [
            ("1093 AA", "Linnaeusstraat 35", "Amsterdam"),
            ("3581 KT", "Biltstraat 60", "Utrecht"),
            ("3072 AP", "Wilhelminakade 1", "Rotterdam"),
            ("2585 GG", "Laan van Meerdervoort 2", "Den Haag"),
        ],
    },
]

EXTRA_CONTACTS = 6

# Payments: every organisation takes test payments (no account anywhere); the Swedish one also
# Swish, against the local Swish fake that `make demo` starts (mutual TLS with its throwaway
# certificates; the web and worker processes get their paths in SWISH_CERT/KEY/CA).
SWISH_FAKE_URL = os.environ.get("SWISH_FAKE_URL", "https://127.0.0.1:9443/swish-cpcapi/api")
SWISH_ORGS = {"samtalsbolaget"}

# Appointment types per organisation slug: (slug, name, minutes, mode, price, extra fields,
# required skills {code: min level}, allowed region names).
M = AppointmentMode
TYPES = {
    "samtalsbolaget": [
        (
            "session",
            "Personligt samtal",
            60,
            M.BRANCH,
            "950",
            {"prepayment": Prepayment.FULL},
            {},
            [],
        ),
        ("video", "Videosamtal", 45, M.VIDEO, "750", {}, {}, []),
    ],
    "fixright": [
        (
            "repair",
            "Repair visit",
            90,
            M.CUSTOMER_ADDRESS,
            "120",
            {"buffer_after": 15},
            {"plumbing": 2},
            [],
        ),
        ("estimate", "Estimate visit", 30, M.CUSTOMER_ADDRESS, "0", {"combinable": True}, {}, []),
    ],
    "remstroy": [
        ("measurement", "Замер объекта", 60, M.CUSTOMER_ADDRESS, "0", {}, {}, []),
    ],
    "driveon": [
        ("onboarding-call", "Звонок по подключению", 20, M.PHONE, "0", {}, {}, []),
        ("inspection", "Осмотр автомобиля", 30, M.BRANCH, "0", {}, {}, []),
    ],
    "adviesgroep": [
        (
            "advies",
            "Hypotheekadviesgesprek",
            60,
            M.CUSTOMER_ADDRESS,
            "0",
            {"buffer_before": 10, "buffer_after": 10, "cancel_window_hours": 24},
            {"hypotheek": 3},
            ["Amsterdam", "Utrecht"],
        ),
        ("telefonisch", "Telefonisch advies", 30, M.PHONE, "0", {}, {}, []),
        ("groepsvoorlichting", "Groepsvoorlichting", 90, M.BRANCH, "0", {"capacity": 8}, {}, []),
        # The webshop (S4.9, /shop/adviesgroep/): bought by estate agents, then booked.
        (
            "taxatie",
            "Woningtaxatie",
            60,
            M.CUSTOMER_ADDRESS,
            "495",
            {"sold_in_webshop": True},
            {},
            [],
        ),
        (
            "energielabel",
            "Energielabel",
            30,
            M.CUSTOMER_ADDRESS,
            "195",
            {"sold_in_webshop": True, "combinable": True},
            {},
            [],
        ),
    ],
}


class Command(BaseCommand):
    help = f"Load the demo organisations (idempotent). Every demo user's password is “{DEMO_PASSWORD}”."

    def handle(self, *args, **options):
        rng = random.Random(SEED)
        password_hash = make_password(DEMO_PASSWORD)  # hashed once: the demo users share it
        logins: list[tuple[str, str, str]] = []
        for spec in ORGS:
            existing = Organisation.objects.filter(slug=spec["slug"]).first()
            if existing is None:
                self._create(spec, rng, password_hash)
                self.stdout.write(f"Created {spec['name']}")
            else:
                self._refresh(spec, password_hash)
                self._scheduling(existing)
                self._payments(existing)
                messaging_demo(existing)
                onboarding_demo(existing)
                workorders_demo(existing)
                self.stdout.write(f"{spec['name']} already exists: demo passwords refreshed")
            for username, roles in self._logins(spec):
                logins.append((spec["name"], roles, username))
        self._print_table(logins)

    # --- creation ----------------------------------------------------------------------------

    @transaction.atomic
    def _create(self, spec: dict, rng: random.Random, password_hash: str) -> None:
        org = Organisation.objects.create(
            name=spec["name"],
            slug=spec["slug"],
            country=spec["country"],
            time_zone=spec["time_zone"],
            currency=spec["currency"],
            default_language=spec["language"],
        )
        units = {}
        for key, name, parent, kind in spec["units"]:
            units[key] = org_unit_create(
                organisation=org, name=name, parent=units.get(parent), kind=kind
            )
        regions = {
            name: region_save(organisation=org, name=name, country=org.country, postcodes=postcodes)
            for name, postcodes in spec["regions"]
        }
        skills = {
            code: Skill.objects.create(organisation=org, code=code, name=name)
            for code, name in spec["skills"]
        }
        office = spec["staff"][2][9] or spec["customers"][0][4]
        units["root"].location = self._location(org, office, label=spec["name"])
        units["root"].save(update_fields=["location"])

        hours = []
        for (
            suffix,
            first,
            last,
            roles,
            unit,
            title,
            skill_levels,
            region_names,
            pattern,
            home,
        ) in spec["staff"]:
            user = self._user(spec, suffix, first, last, password_hash)
            staff = staff_create(
                organisation=org,
                user=user,
                unit=units[unit],
                roles=list(roles),
                active_from=ACTIVE_FROM,
                skills={skills[code]: level for code, level in skill_levels.items()},
                regions=[regions[name] for name in region_names],
                languages=sorted({spec["language"], "en"}),
                home_base=self._location(org, home, label=f"{first} {last}") if home else None,
                title=title,
            )
            for weekday in range(5):
                for start, end in HOURS[pattern] if pattern else []:
                    if pattern == "split" and weekday == 2 and start.hour >= 12:
                        continue  # Wednesday afternoon off
                    hours.append(WorkingHours(staff=staff, weekday=weekday, start=start, end=end))
        WorkingHours.objects.bulk_create(hours)
        self._scheduling(org)
        self._payments(org)
        self._contacts(spec, org, rng, password_hash)
        self._bookings(org, rng)
        messaging_demo(org)  # channels, conversations and canned replies (after the bookings)
        onboarding_demo(org)  # the taxi fleet's driver-onboarding flow and applications
        workorders_demo(org)  # FixRight's catalogue, pay rules and orders in every stage

    def _contacts(self, spec: dict, org, rng: random.Random, password_hash: str) -> None:
        for suffix, first, last, phone, home in spec["customers"]:
            user = self._user(spec, suffix, first, last, password_hash, phone=phone)
            contact_create(
                organisation=org,
                first_name=first,
                last_name=last,
                phone=phone,
                email=user.email or "",
                language=spec["language"],
                location=self._location(org, home),
                user=user,
            )
        firsts, lasts = spec["extra_names"]
        for i in range(EXTRA_CONTACTS):
            home = rng.choice(spec["addresses"])
            contact_create(
                organisation=org,
                first_name=rng.choice(firsts),
                last_name=rng.choice(lasts),
                phone=spec["phone"].format(1000 + i * 37 + rng.randrange(30)),
                language=spec["language"],
                location=self._location(org, home),
            )

    def _bookings(self, org, rng: random.Random) -> None:
        """A few confirmed visits on the next working days, so agendas, the day view and the
        option generator's travel and gap reasons have something to work with. Times that are
        not bookable (a public holiday, a day off) are skipped."""
        from django.utils import timezone

        from slotwise.bookings.services import booking_create
        from slotwise.core.errors import Conflict, ValidationError
        from slotwise.customers.models import Contact

        types = list(AppointmentType.objects.filter(organisation=org, capacity=1).order_by("pk"))
        if not types:
            return
        zone = ZoneInfo(org.time_zone)
        contacts = list(
            Contact.objects.filter(organisation=org, location__isnull=False).order_by("pk")
        )
        staff = (
            Staff.objects.filter(organisation=org, working_hours__isnull=False)
            .distinct()
            .order_by("pk")
        )
        today = timezone.now().astimezone(zone).date()
        days = [today + timedelta(days=n) for n in range(1, 10)]
        days = [d for d in days if d.weekday() < 5][:3]
        for member in staff:
            for day in days:
                for hour in rng.sample([9, 11, 14, 15], 2):
                    type_ = rng.choice(types)
                    contact = rng.choice(contacts)
                    start = datetime.combine(day, time(hour), tzinfo=zone)
                    try:
                        booking_create(
                            type=type_,
                            staff=member,
                            contact=contact,
                            start=start,
                            location=contact.location if type_.needs_travel else None,
                        )
                    except (ValidationError, Conflict):
                        continue

    def _scheduling(self, org) -> None:
        """The scheduling policy and the appointment types (created when missing)."""
        SchedulingPolicy.objects.get_or_create(organisation=org)
        for slug, name, minutes, mode, price, extra, skills, regions in TYPES.get(org.slug, []):
            if AppointmentType.objects.filter(organisation=org, slug=slug).exists():
                continue
            type_ = AppointmentType.objects.create(
                organisation=org,
                slug=slug,
                name=name,
                duration_minutes=minutes,
                mode=mode,
                price=price,
                currency=org.currency,
                **extra,
            )
            for code, level in skills.items():
                skill = Skill.objects.get(organisation=org, code=code)
                AppointmentTypeSkill.objects.create(type=type_, skill=skill, min_level=level)
            if regions:
                type_.allowed_regions.set(Region.objects.filter(organisation=org, name__in=regions))

    def _payments(self, org) -> None:
        """Online payment methods (created when missing): Swish first where it is enabled."""
        from slotwise.payments.fakes.swish import DEFAULT_PAYEE_ALIAS
        from slotwise.payments.models import ProviderConfig

        if org.slug in SWISH_ORGS:
            ProviderConfig.objects.get_or_create(
                organisation=org,
                provider="swish",
                defaults={
                    "name": "Swish",
                    "position": 0,
                    "settings": {
                        "base_url": SWISH_FAKE_URL,
                        "payee_alias": DEFAULT_PAYEE_ALIAS,
                        "cert_env": "SWISH_CERT",
                        "key_env": "SWISH_KEY",
                        "ca_env": "SWISH_CA",
                    },
                },
            )
        ProviderConfig.objects.get_or_create(
            organisation=org,
            provider="test",
            defaults={"position": 1},
        )

    def _location(self, org, home, label: str = ""):
        postcode, address, city = home
        return location_create(
            organisation=org, postcode=postcode, address=address, city=city, label=label
        )

    def _user(
        self,
        spec: dict,
        suffix: str,
        first: str,
        last: str,
        password_hash: str,
        phone: str | None = None,
    ):
        User = get_user_model()
        username = f"{spec['prefix']}-{suffix}"
        return User.objects.create(
            username=username,
            first_name=first,
            last_name=last,
            email=f"{username}@example.com",
            phone=phone,
            phone_verified=bool(phone),
            language=spec["language"],
            password=password_hash,
        )

    # --- re-run --------------------------------------------------------------------------------

    def _refresh(self, spec: dict, password_hash: str) -> None:
        usernames = [username for username, _ in self._logins(spec)]
        get_user_model().objects.filter(username__in=usernames).update(
            password=password_hash, is_active=True
        )

    def _logins(self, spec: dict) -> list[tuple[str, str]]:
        rows = [
            (f"{spec['prefix']}-{s[0]}", ", ".join(str(r.label) for r in s[3]))
            for s in spec["staff"]
        ]
        rows += [(f"{spec['prefix']}-{c[0]}", "Customer") for c in spec["customers"]]
        return rows

    def _print_table(self, logins: list[tuple[str, str, str]]) -> None:
        header = ("Organisation", "Role", "Username", "Password")
        rows = [(org, role, username, DEMO_PASSWORD) for org, role, username in logins]
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(4)]
        line = "  ".join("{:<" + str(w) + "}" for w in widths)
        self.stdout.write("")
        self.stdout.write(line.format(*header))
        self.stdout.write(line.format(*("-" * w for w in widths)))
        for row in rows:
            self.stdout.write(line.format(*row))
        self.stdout.write("")
        self.stdout.write(
            f"All demo users log in at /accounts/login/ with password “{DEMO_PASSWORD}”."
        )
