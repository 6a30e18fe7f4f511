"""The driver-onboarding flow of S1, shipped as a template: installed for an organisation by
`manage.py onboarding_install_template --org <slug>` (and by the demo data for the taxi fleet),
then edited in the admin like any flow.

    welcome → phone? → full name? → code by SMS → code typed (offer accepted, messenger linked)
    → collecting: licence front, licence back, passport, own car or fleet car
      (own: registration certificate) → documents received → wait for the manager's review
    → final message: how to start working and get paid.

"?" steps are skipped when the application already has the answer (a manager entered the name
and phone). The texts are in the four languages of the product; the admin edits them.
"""

from __future__ import annotations

from django.db import transaction

from .models import ApplicationStatus, Flow, FlowStep, StepKind, Trigger, Validation

SLUG = "driver-onboarding"


def _t(en: str, sv: str, ru: str, nl: str) -> dict[str, str]:
    return {"en": en, "sv": sv, "ru": ru, "nl": nl}


PHOTO_ERROR = _t(
    "Please send a photo (not a file or text) of the document.",
    "Skicka ett foto (inte en fil eller text) av dokumentet.",
    "Пожалуйста, пришлите фотографию документа (не файл и не текст).",
    "Stuur een foto (geen bestand of tekst) van het document.",
)

STEPS: list[dict] = [
    {
        "key": "welcome",
        "kind": StepKind.SEND_MESSAGE,
        "text": _t(
            "Hello, {first_name}! I'm the {company} registration bot. Registration takes about "
            "5 minutes. Type “status” at any time to see where you stand.",
            "Hej {first_name}! Jag är {company}s registreringsbot. Registreringen tar ungefär "
            "5 minuter. Skriv ”status” när som helst för att se hur det går.",
            "Здравствуйте, {first_name}! Я бот регистрации {company}. Регистрация займёт около "
            "5 минут. Напишите «статус» в любой момент, чтобы узнать, на каком вы этапе.",
            "Hallo {first_name}! Ik ben de registratiebot van {company}. Registreren duurt "
            "ongeveer 5 minuten. Typ “status” om te zien hoe ver u bent.",
        ),
    },
    {
        "key": "phone",
        "kind": StepKind.ASK_PHONE,
        "field": "phone",
        "validation": Validation.PHONE,
        "label": _t("Phone number", "Telefonnummer", "Телефон", "Telefoonnummer"),
        "text": _t(
            "What is your mobile phone number? We will send a code to it.",
            "Vilket är ditt mobilnummer? Vi skickar en kod till det.",
            "Какой у вас номер мобильного телефона? Мы отправим на него код.",
            "Wat is uw mobiele nummer? We sturen er een code naartoe.",
        ),
        "error_text": _t(
            "That doesn't look like a phone number. Please type it with the country code, "
            "e.g. +7 916 123 45 67.",
            "Det ser inte ut som ett telefonnummer. Skriv det med landsnummer, "
            "t.ex. +46 70 123 45 67.",
            "Это не похоже на номер телефона. Напишите его с кодом страны, "
            "например +7 916 123 45 67.",
            "Dat lijkt geen telefoonnummer. Typ het met landcode, bijv. +31 6 12345678.",
        ),
    },
    {
        "key": "full_name",
        "kind": StepKind.ASK_TEXT,
        "field": "full_name",
        "label": _t("Full name", "Fullständigt namn", "ФИО", "Volledige naam"),
        "text": _t(
            "Please type your full name exactly as in your driving licence.",
            "Skriv ditt fullständiga namn precis som i körkortet.",
            "Напишите, пожалуйста, ваши фамилию, имя и отчество точно как в водительском "
            "удостоверении.",
            "Typ uw volledige naam precies zoals op uw rijbewijs.",
        ),
    },
    {
        "key": "code",
        "kind": StepKind.SEND_CODE,
        "text": _t(
            "We have sent a 6-digit code by SMS to {phone}.",
            "Vi har skickat en 6-siffrig kod med sms till {phone}.",
            "Мы отправили 6-значный код в СМС на номер {phone}.",
            "We hebben een 6-cijferige code per sms gestuurd naar {phone}.",
        ),
    },
    {
        "key": "check_code",
        "kind": StepKind.CHECK_CODE,
        "label": _t("Code", "Kod", "Код", "Code"),
        "text": _t(
            "Please type the code from the SMS here. By typing it you accept the driver offer "
            "(version {offer_version}){offer_link}.",
            "Skriv koden från sms:et här. Genom att skriva den godkänner du förareavtalet "
            "(version {offer_version}){offer_link}.",
            "Введите здесь код из СМС. Вводя код, вы принимаете оферту для водителей "
            "(версия {offer_version}){offer_link}.",
            "Typ hier de code uit de sms. Door de code te typen accepteert u de "
            "chauffeursovereenkomst (versie {offer_version}){offer_link}.",
        ),
    },
    {"key": "collecting", "kind": StepKind.SET_STATUS, "status": ApplicationStatus.COLLECTING},
    {
        "key": "licence_front",
        "kind": StepKind.ASK_PHOTO,
        "field": "licence_front",
        "validation": Validation.IMAGE,
        "label": _t(
            "Driving licence (front)",
            "Körkort (framsida)",
            "Водительское удостоверение (лицевая сторона)",
            "Rijbewijs (voorkant)",
        ),
        "text": _t(
            "Thank you! Now the documents. Please send a photo of the FRONT of your driving "
            "licence.",
            "Tack! Nu dokumenten. Skicka ett foto av FRAMSIDAN av ditt körkort.",
            "Спасибо! Теперь документы. Пришлите фото ЛИЦЕВОЙ стороны водительского удостоверения.",
            "Dank u! Nu de documenten. Stuur een foto van de VOORKANT van uw rijbewijs.",
        ),
        "error_text": PHOTO_ERROR,
    },
    {
        "key": "licence_back",
        "kind": StepKind.ASK_PHOTO,
        "field": "licence_back",
        "validation": Validation.IMAGE,
        "label": _t(
            "Driving licence (back)",
            "Körkort (baksida)",
            "Водительское удостоверение (оборот)",
            "Rijbewijs (achterkant)",
        ),
        "text": _t(
            "Now the BACK of your driving licence, please.",
            "Nu BAKSIDAN av körkortet, tack.",
            "Теперь ОБОРОТНУЮ сторону удостоверения, пожалуйста.",
            "Nu de ACHTERKANT van uw rijbewijs, alstublieft.",
        ),
        "error_text": PHOTO_ERROR,
    },
    {
        "key": "passport",
        "kind": StepKind.ASK_PHOTO,
        "field": "passport",
        "validation": Validation.IMAGE,
        "label": _t("Passport", "Pass", "Паспорт", "Paspoort"),
        "text": _t(
            "And the main page of your passport.",
            "Och passets huvudsida.",
            "И главный разворот паспорта.",
            "En de hoofdpagina van uw paspoort.",
        ),
        "error_text": PHOTO_ERROR,
    },
    {
        "key": "car",
        "kind": StepKind.ASK_CHOICE,
        "field": "car",
        "label": _t("Car", "Bil", "Автомобиль", "Auto"),
        "text": _t(
            "Will you drive your own car or a car from our fleet?",
            "Kör du din egen bil eller en bil från vår flotta?",
            "Вы будете работать на своём автомобиле или на автомобиле парка?",
            "Rijdt u in uw eigen auto of in een auto van onze vloot?",
        ),
        "choices": [
            {
                "value": "own",
                "next": "vehicle_registration",
                "labels": _t("My own car", "Egen bil", "Свой автомобиль", "Eigen auto"),
            },
            {
                "value": "fleet",
                "next": "documents_received",
                "labels": _t(
                    "A fleet car", "Bil från flottan", "Автомобиль парка", "Auto van de vloot"
                ),
            },
        ],
        "error_text": _t(
            "Please press one of the buttons (or type 1 or 2).",
            "Tryck på en av knapparna (eller skriv 1 eller 2).",
            "Нажмите одну из кнопок (или напишите 1 или 2).",
            "Druk op een van de knoppen (of typ 1 of 2).",
        ),
    },
    {
        "key": "vehicle_registration",
        "kind": StepKind.ASK_PHOTO,
        "field": "vehicle_registration",
        "validation": Validation.IMAGE,
        "label": _t(
            "Vehicle registration certificate",
            "Registreringsbevis",
            "СТС (свидетельство о регистрации ТС)",
            "Kentekenbewijs",
        ),
        "text": _t(
            "Please send a photo of the car's registration certificate.",
            "Skicka ett foto av bilens registreringsbevis.",
            "Пришлите фото свидетельства о регистрации автомобиля (СТС).",
            "Stuur een foto van het kentekenbewijs van de auto.",
        ),
        "error_text": PHOTO_ERROR,
    },
    {
        "key": "documents_received",
        "kind": StepKind.SET_STATUS,
        "status": ApplicationStatus.DOCUMENTS_RECEIVED,
    },
    {
        "key": "review",
        "kind": StepKind.WAIT_FOR_MANAGER,
        "status": ApplicationStatus.IN_REVIEW,
        "text": _t(
            "Thank you, everything is in! A manager will check your documents, usually within "
            "15 minutes, and I'll write to you here.",
            "Tack, allt är inskickat! En handläggare granskar dina dokument, oftast inom "
            "15 minuter, och jag skriver till dig här.",
            "Спасибо, всё получено! Менеджер проверит документы, обычно в течение 15 минут, "
            "и я напишу вам здесь.",
            "Dank u, alles is binnen! Een medewerker controleert uw documenten, meestal "
            "binnen 15 minuten, en ik schrijf u hier.",
        ),
        "error_text": _t(
            "Your documents are with a manager now; they will write to you here. Type "
            "“status” to see where your application stands.",
            "Dina dokument granskas nu; du får svar här. Skriv ”status” för att se läget.",
            "Ваши документы у менеджера, он ответит вам здесь. Напишите «статус», чтобы "
            "узнать, на каком этапе заявка.",
            "Uw documenten liggen bij een medewerker; u krijgt hier antwoord. Typ “status” "
            "om te zien hoe het ervoor staat.",
        ),
    },
    {
        "key": "final",
        "kind": StepKind.FINAL_MESSAGE,
        "text": _t(
            "Congratulations, {first_name}, you are approved! How to start:\n"
            "1. Install the driver app and sign in with your phone number {phone}.\n"
            "2. Pick up your welcome kit at the office or go online right away.\n"
            "3. Your earnings are paid to your card every Monday; you see them in the app "
            "under “Balance”.\n"
            "Type “status” here at any time.",
            "Grattis {first_name}, du är godkänd! Så börjar du:\n"
            "1. Installera förarappen och logga in med ditt nummer {phone}.\n"
            "2. Hämta välkomstpaketet på kontoret eller börja köra direkt.\n"
            "3. Din ersättning betalas till ditt kort varje måndag; du ser den i appen under "
            "”Saldo”.\n"
            "Skriv ”status” här när du vill.",
            "Поздравляем, {first_name}, вы приняты! Как начать:\n"
            "1. Установите приложение водителя и войдите по номеру {phone}.\n"
            "2. Заберите приветственный набор в офисе или сразу выходите на линию.\n"
            "3. Заработок выплачивается на карту каждый понедельник; он виден в приложении "
            "в разделе «Баланс».\n"
            "Напишите «статус» здесь в любой момент.",
            "Gefeliciteerd {first_name}, u bent goedgekeurd! Zo begint u:\n"
            "1. Installeer de chauffeursapp en log in met uw nummer {phone}.\n"
            "2. Haal uw welkomstpakket op kantoor of ga meteen online.\n"
            "3. Uw verdiensten worden elke maandag op uw kaart gestort; u ziet ze in de app "
            "onder “Saldo”.\n"
            "Typ hier op elk moment “status”.",
        ),
    },
]


@transaction.atomic
def install_driver_template(
    organisation,
    *,
    unit=None,
    offer_url: str = "",
    offer_version: str = "1",
    replace: bool = False,
) -> tuple[Flow, bool]:
    """Install the driver-onboarding flow for `organisation`. Returns (flow, created). An
    existing flow with the template's short name is left as it is (the admin may have edited
    it) unless `replace`, which rewrites its steps."""
    flow = Flow.objects.filter(organisation=organisation, slug=SLUG).first()
    created = flow is None
    if flow is not None and not replace:
        return flow, False
    if flow is None:
        flow = Flow.objects.create(
            organisation=organisation,
            slug=SLUG,
            name={
                "ru": "Подключение водителей",
                "sv": "Registrering av förare",
                "nl": "Aanmelding chauffeurs",
            }.get(organisation.default_language, "Driver onboarding"),
            trigger=Trigger.FIRST_CONTACT,
            unit=unit,
            offer_url=offer_url,
            offer_version=offer_version,
            welcome_template="driver_welcome",
        )
    else:
        flow.steps.all().delete()
    FlowStep.objects.bulk_create(
        FlowStep(
            flow=flow,
            position=(i + 1) * 10,
            key=spec["key"],
            kind=spec["kind"],
            text=spec.get("text", {}),
            label=spec.get("label", {}),
            error_text=spec.get("error_text", {}),
            choices=spec.get("choices", []),
            field=spec.get("field", ""),
            validation=spec.get("validation", ""),
            status=spec.get("status", ""),
            next_step=spec.get("next_step", ""),
        )
        for i, spec in enumerate(STEPS)
    )
    return flow, created
