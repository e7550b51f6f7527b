"""The export parsers: format detection, each vendor's fixture read into the right fields,
and the row-level and file-level errors of malformed files.

Fixtures in tests/intake/fixtures/ are written by hand from the vendors' documented columns
(../shared/reference/ecosystem.md section 3); KDBX databases are built here with pykeepass.
Every password in them is fake.
"""

import gc
import io
import json
import logging
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from pykeepass import create_database

from intake.importers import (
    FORMATS,
    GENERIC_FIELDS,
    LIMITS,
    ImportedRow,
    ImportFormatError,
    csv_columns,
    detect_format,
    guess_credential_type,
    is_formula,
    normalise_totp,
    parse,
    reading,
)
from vault.models import CredentialType
from vault.services import history

FIXTURES = Path(__file__).parent / "fixtures"
KDBX_PASSWORD = "Fake-Master-Pass-1"
GENERIC_MAPPING = {
    "name": "System",
    "username": "Login",
    "secret": "Secret",
    "url": "Address",
    "notes": "Comment",
    "client_name": "Customer",
    "credential_type": "Kind",
}


def fixture(name: str) -> io.BytesIO:
    return io.BytesIO((FIXTURES / name).read_bytes())


def rows_of(name: str, **kwargs) -> list[ImportedRow]:
    upload = fixture(name)
    return list(parse(upload, format=kwargs.pop("format", None) or detect_format(upload), **kwargs))


@pytest.fixture(scope="module")
def kdbx_bytes(tmp_path_factory) -> bytes:
    """A KeePassXC-style database: a nested group, an OTP link, a protected custom field, a
    KeePass 2 TimeOtp entry, and an entry in the recycle bin."""
    path = tmp_path_factory.mktemp("kdbx") / "clients.kdbx"
    database = create_database(str(path), password=KDBX_PASSWORD)
    clients = database.add_group(database.root_group, "Clients")
    contoso = database.add_group(clients, "Contoso")
    entry = database.add_entry(
        contoso,
        "DC01 Domain Admin",
        "CONTOSO\\admin",
        "Fake-Pass-40!",
        url="https://dc01.contoso.local",
        notes="Primary DC",
        otp="otpauth://totp/DC01?secret=JBSWY3DPEHPK3PXP&issuer=Contoso",
    )
    entry.set_custom_property("Recovery PIN", "Fake-PIN-40", protect=True)
    keepass2 = database.add_entry(database.root_group, "Vendor portal", "msp", "Fake-Pass-41!")
    keepass2.set_custom_property("TimeOtp-Secret-Base32", "jbswy3dpehpk3pxp", protect=True)
    keepass2.set_custom_property("TimeOtp-Period", "60")
    gone = database.add_entry(database.root_group, "Old router", "admin", "Fake-Pass-42!")
    database.trash_entry(gone)
    database.save()
    return path.read_bytes()


# --- Detection ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("itglue_passwords.csv", "itglue"),
        ("passportal_passwords.csv", "passportal"),
        ("passportal_no_header.csv", "passportal"),
        ("bitwarden_individual.csv", "bitwarden_csv"),
        ("bitwarden_old.csv", "bitwarden_csv"),
        ("bitwarden_org.csv", "bitwarden_csv"),
        ("bitwarden.json", "bitwarden_json"),
        ("keepass1.csv", "keepass_csv"),
        ("keepassxc.csv", "keepassxc_csv"),
        ("bom.csv", "keepassxc_csv"),
        ("utf16.csv", "keepassxc_csv"),
        ("onepassword.csv", "onepassword_csv"),
        ("multiline_crlf.csv", "onepassword_csv"),
        ("generic.csv", "generic_csv"),
    ],
)
def test_detects_the_format_from_the_header_and_rewinds(name, expected):
    upload = fixture(name)
    upload.read(10)

    assert detect_format(upload, filename=name) == expected
    assert upload.tell() == 0
    assert expected in FORMATS


def test_detects_a_kdbx_database_by_its_signature(kdbx_bytes):
    assert detect_format(io.BytesIO(kdbx_bytes), filename="export.bin") == "keepass_kdbx"


def test_detects_a_semicolon_separated_export_saved_by_a_european_excel():
    text = (FIXTURES / "keepass1.csv").read_text().replace('","', '";"')
    upload = io.BytesIO(text.encode())

    assert detect_format(upload) == "keepass_csv"
    assert [row.name for row in parse(upload, format="keepass_csv")] == [
        "Reception PC",
        "Wi-Fi guest",
    ]


@pytest.mark.parametrize(
    ("content", "filename", "message"),
    [
        ((FIXTURES / "image.png").read_bytes(), "logo.png", "This is an image"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "export.pdf", "This is a PDF"),
        (b"PK\x03\x04\x14\x00\x00\x00", "passwords.xlsx", 'Save it as "CSV UTF-8"'),
        (b"PK\x03\x04\x14\x00\x00\x00", "export.1pux", "Export the vault as CSV"),
        (b"PK\x03\x04\x14\x00\x00\x00", "itglue-export.zip", "Extract it"),
        (b"\x03\xd9\xa2\x9a\x65\xfb\x4b\xb5\x00\x00", "old.kdb", "KeePass 1 (.kdb)"),
        (b"\x00\x01\x02\x03\xfe\xff\x80\x81" * 64, "data.bin", "not a CSV, JSON or KeePass"),
        ("Title,Password\n".encode("utf-16-le"), "no-bom.csv", "UTF-16 text without a byte"),
        (b"", "empty.csv", "The file is empty."),
        (b"  \r\n\r\n", "blank.csv", "The file is empty."),
        (b'{"accounts": [{"vaults": []}]}', "export.data", "not a Bitwarden"),
        (b"[1, 2, 3]", "list.json", "not a Bitwarden"),
    ],
)
def test_refuses_files_that_are_not_an_export_with_a_plain_reason(content, filename, message):
    with pytest.raises(ImportFormatError) as refused:
        detect_format(io.BytesIO(content), filename=filename)

    assert message in refused.value.message
    assert refused.value.status == 400


def test_refuses_a_file_in_a_legacy_code_page_asking_for_utf8():
    with pytest.raises(ImportFormatError, match=r"not UTF-8 text.*CSV UTF-8"):
        detect_format(fixture("cp1252.csv"))
    with pytest.raises(ImportFormatError, match="not UTF-8"):
        parse(fixture("cp1252.csv"), format="keepass_csv")


@pytest.mark.parametrize(
    "export",
    [
        (FIXTURES / "bitwarden_encrypted.json").read_bytes(),
        # Account-restricted: readable structure, encrypted values.
        json.dumps(
            {
                "encrypted": True,
                "encKeyValidation_DO_NOT_EDIT": "2.AAAA|BBBB|CCCC",
                "folders": [],
                "items": [{"type": 1, "name": "2.x|y|z", "login": {"password": "2.p|q|r"}}],
            }
        ).encode(),
    ],
)
def test_an_encrypted_bitwarden_export_is_refused_asking_for_an_unencrypted_one(export):
    with pytest.raises(ImportFormatError, match=r"export is encrypted.*without encryption"):
        detect_format(io.BytesIO(export))
    with pytest.raises(ImportFormatError, match="export is encrypted"):
        parse(io.BytesIO(export), format="bitwarden_json")


def test_csv_columns_lists_the_header_for_the_mapping_screen_and_rewinds():
    upload = fixture("generic.csv")

    assert csv_columns(upload) == [
        "System",
        "Login",
        "Secret",
        "Address",
        "Comment",
        "Customer",
        "Kind",
    ]
    assert upload.tell() == 0
    assert csv_columns(fixture("bom.csv"))[0] == "Group"


def test_csv_columns_refuses_json_and_kdbx(kdbx_bytes):
    with pytest.raises(ImportFormatError, match="not a CSV"):
        csv_columns(fixture("bitwarden.json"))
    with pytest.raises(ImportFormatError, match="not a CSV"):
        csv_columns(io.BytesIO(kdbx_bytes))


# --- Each vendor's export -----------------------------------------------------------------


def test_itglue_passwords_csv():
    rows = rows_of("itglue_passwords.csv")

    assert [row.row_number for row in rows] == [2, 3, 4, 5, 6]
    assert all(row.errors == [] for row in rows)
    dc = rows[0]
    assert (dc.name, dc.username, dc.secret, dc.url, dc.client_name) == (
        "DC01 administrator",
        "CONTOSO\\administrator",
        "Fake-Pass-1!",
        "https://dc01.contoso.local",
        "Contoso Dental",
    )
    assert dc.notes == "Break-glass account, kept offline"
    assert dc.totp == "JBSWY3DPEHPK3PXP"
    assert rows[1].totp == "otpauth://totp/M365:admin?secret=JBSWY3DPEHPK3PXP&issuer=M365"
    assert [row.credential_type for row in rows] == [
        "domain_admin",
        "cloud_tenant_admin",
        "firewall_admin",
        "service_account",
        "",
    ]
    assert rows[2].client_name == "Fabrikam Logistics"


def test_itglue_older_export_with_one_time_password_column():
    upload = io.BytesIO(
        b"id,organization,name,password_category,username,password,one_time_password,url,notes\n"
        b"7,Contoso Dental,Router,,admin,Fake-Pass-50!,JBSWY3DPEHPK3PXP,,\n"
    )

    [row] = parse(upload, format=detect_format(upload))

    assert (row.name, row.secret, row.totp, row.errors) == (
        "Router",
        "Fake-Pass-50!",
        "JBSWY3DPEHPK3PXP",
        [],
    )


def test_passportal_with_header():
    rows = rows_of("passportal_passwords.csv")

    assert [row.row_number for row in rows] == [2, 3, 4]
    first = rows[0]
    assert (first.client_name, first.name, first.username, first.secret) == (
        "Contoso Dental",
        "DC01 administrator",
        "CONTOSO\\admin",
        "Fake-Pass-6!",
    )
    assert (first.url, first.folder, first.notes) == (
        "https://dc01.contoso.local",
        "Servers/Domain",
        "Main DC",
    )
    assert first.totp == "JBSWY3DPEHPK3PXP"  # "jbsw y3dp ehpk 3pxp": upper-cased, de-spaced
    assert [row.credential_type for row in rows] == ["domain_admin", "", ""]


@pytest.mark.parametrize("has_header", [None, False])
def test_passportal_without_header_follows_the_template_order(has_header):
    with_header = rows_of("passportal_passwords.csv", format="passportal")
    rows = rows_of("passportal_no_header.csv", format="passportal", has_header=has_header)

    assert [row.row_number for row in rows] == [1, 2, 3]
    assert [(row.name, row.secret, row.client_name, row.folder, row.totp) for row in rows] == [
        (row.name, row.secret, row.client_name, row.folder, row.totp) for row in with_header
    ]


def test_passportal_my_vault_export_without_header_has_no_client_column():
    upload = io.BytesIO(b"9001,Website,me@example.com,Fake-Pass-51!,Supplier portal,No,,,,\n")

    assert detect_format(upload) == "passportal"
    [row] = parse(upload, format="passportal")
    assert (row.name, row.username, row.secret, row.client_name, row.errors) == (
        "Supplier portal",
        "me@example.com",
        "Fake-Pass-51!",
        "",
        [],
    )


def test_passportal_told_there_is_a_header_when_there_is_none_refuses_the_file():
    with pytest.raises(ImportFormatError, match=r"has no .* column"):
        parse(fixture("passportal_no_header.csv"), format="passportal", has_header=True)


def test_bitwarden_csv_individual_vault():
    rows = rows_of("bitwarden_individual.csv")

    dc, note, firewall = rows
    assert (dc.name, dc.username, dc.secret, dc.folder) == (
        "DC01 Domain Admin",
        "CONTOSO\\admin",
        "Fake-Pass-9!",
        "Servers",
    )
    assert dc.url == "https://dc01.contoso.local"
    assert dc.notes == (
        "Primary DC\n\nOther URL: https://dc01.contoso.local:8443\nSite: HQ\nPIN: 4321"
    )
    assert dc.totp == "otpauth://totp/DC01?secret=JBSWY3DPEHPK3PXP"
    assert dc.credential_type == "domain_admin"
    assert note.errors == ["This is a secure note, not a login: there is no password to import."]
    assert (note.name, note.secret, note.notes) == ("Alarm codes", "", "")
    # The multi-line fields cell does not shift the numbering: the firewall is row 4.
    assert (firewall.row_number, firewall.credential_type) == (4, "firewall_admin")


def test_bitwarden_csv_older_export_without_reprompt_and_organization_export():
    [mailbox] = rows_of("bitwarden_old.csv")
    [backup] = rows_of("bitwarden_org.csv")

    assert (mailbox.name, mailbox.secret, mailbox.folder, mailbox.errors) == (
        "Shared mailbox",
        "Fake-Pass-11!",
        "Email",
        [],
    )
    assert (backup.name, backup.secret, backup.folder, backup.credential_type) == (
        "Backup API",
        "Fake-Pass-12!",
        "Contoso Dental,Contoso Servers",
        "api_key",
    )


def test_bitwarden_json_unencrypted():
    rows = rows_of("bitwarden.json")

    assert [row.row_number for row in rows] == [1, 2, 3, 4, 5]
    dc, note, card, backup, passkey = rows
    assert (dc.name, dc.username, dc.secret, dc.folder, dc.totp) == (
        "DC01 Domain Admin",
        "CONTOSO\\admin",
        "Fake-Pass-30!",
        "Servers",
        "JBSWY3DPEHPK3PXP",
    )
    # Hidden fields are secrets, and so are the notes: both are sealed.
    assert dc.notes == (
        "Primary DC\n\nOther URL: https://dc01.contoso.local:8443\nSite: HQ\n"
        "Recovery PIN: Fake-PIN-4321\nLegacy: true"
    )
    assert "Fake-Old-Pass" not in repr(rows) + dc.notes
    assert note.errors == ["This is a secure note, not a login: there is no password to import."]
    assert card.errors == ["This is a payment card, not a login: there is no password to import."]
    assert (card.secret, card.notes) == ("", "")
    assert (backup.folder, backup.secret, backup.credential_type) == (
        "Contoso Dental",
        "Fake-Pass-31!",
        "api_key",
    )
    assert passkey.errors == ["There is no password."]


def test_bitwarden_json_with_odd_items_reports_them_per_row():
    export = {
        "encrypted": False,
        "items": [
            "not an item",
            {"type": 1, "name": "No login block"},
            {"type": 7, "name": "Future type"},
            {"type": 1, "name": "Good", "login": {"password": "Fake-Pass-52!", "uris": "x"}},
        ],
    }

    rows = list(parse(io.BytesIO(json.dumps(export).encode()), format="bitwarden_json"))

    assert [row.errors for row in rows] == [
        ["This item is not a Bitwarden entry."],
        ["There is no password."],
        ["This is an item, not a login: there is no password to import."],
        [],
    ]


def test_keepass_1x_csv():
    reception, wifi = rows_of("keepass1.csv")

    assert (reception.name, reception.username, reception.secret, reception.notes) == (
        "Reception PC",
        "CONTOSO-RECEPTION\\Administrator",
        "Fake-Pass-13!",
        "Local administrator",
    )
    assert (wifi.name, wifi.username, wifi.secret, wifi.errors) == (
        "Wi-Fi guest",
        "",
        "Fake-Pass-14!",
        [],
    )


def test_keepassxc_csv_group_path_below_the_root_becomes_the_folder():
    exchange, vendor = rows_of("keepassxc.csv")

    assert (exchange.folder, exchange.name, exchange.username, exchange.secret) == (
        "Clients/Contoso",
        "Exchange service account",
        "svc-exchange",
        "Fake-Pass-15!",
    )
    assert exchange.totp.startswith("otpauth://totp/Exchange?secret=JBSWY3DPEHPK3PXP")
    assert exchange.credential_type == "service_account"
    assert (vendor.folder, vendor.url) == ("", "https://vendor.example")


def test_onepassword_8_csv():
    azure, nas = rows_of("onepassword.csv")

    assert (azure.name, azure.url, azure.username, azure.secret, azure.notes) == (
        "Azure API app",
        "https://portal.azure.com",
        "app-id-123",
        "Fake-Pass-17!",
        "Graph API client secret",
    )
    assert azure.credential_type == "api_key"
    assert nas.totp == "otpauth://totp/NAS?secret=JBSWY3DPEHPK3PXP&issuer=NAS"


def test_generic_csv_through_a_column_mapping():
    sql, switch = rows_of("generic.csv", mapping=GENERIC_MAPPING)

    assert (sql.name, sql.username, sql.secret, sql.url, sql.notes, sql.client_name) == (
        "SQL01 sa",
        "sa",
        "Fake-Pass-19!",
        "sql01.contoso.local",
        "SQL Server",
        "Contoso Dental",
    )
    assert sql.credential_type == "service_account"
    assert (switch.name, switch.username, switch.credential_type) == ("Switch core", "", "")


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        (None, "Choose the column that holds the password."),
        ({"name": "System"}, "Choose the column that holds the password."),
        ({"secret": "Nope"}, "A chosen column is not in the file"),
        ({"secret": "Secret", "colour": "Kind"}, "colour is not a field"),
    ],
)
def test_generic_csv_refuses_an_incomplete_or_wrong_mapping(mapping, message):
    with pytest.raises(ImportFormatError, match=message):
        parse(fixture("generic.csv"), format="generic_csv", mapping=mapping)


def test_generic_fields_cover_every_imported_row_field():
    assert set(GENERIC_FIELDS) == set(ImportedRow.__dataclass_fields__) - {"row_number", "errors"}


def test_kdbx_database(kdbx_bytes):
    rows = list(parse(io.BytesIO(kdbx_bytes), format="keepass_kdbx", password=KDBX_PASSWORD))

    assert [row.name for row in rows] == ["DC01 Domain Admin", "Vendor portal"]  # no bin
    dc, vendor = rows
    assert (dc.folder, dc.username, dc.secret, dc.url, dc.credential_type) == (
        "Clients/Contoso",
        "CONTOSO\\admin",
        "Fake-Pass-40!",
        "https://dc01.contoso.local",
        "domain_admin",
    )
    assert dc.totp == "otpauth://totp/DC01?secret=JBSWY3DPEHPK3PXP&issuer=Contoso"
    assert dc.notes == "Primary DC\n\nRecovery PIN: Fake-PIN-40"
    assert dc.errors == []
    # KeePass 2's own TOTP fields: a 60-second period cannot be shown, so it is reported.
    assert vendor.folder == ""
    assert vendor.errors == [
        "The TOTP link asks for codes other than 6 digits every 30 seconds with SHA-1, "
        "which Keyhold cannot show."
    ]


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("not-the-password", "The password or key file is wrong."),
        ("", "Enter the master password of the KeePass database."),
        (None, "Enter the master password of the KeePass database."),
    ],
)
def test_kdbx_with_a_wrong_or_missing_password_is_refused_before_any_row(
    kdbx_bytes, password, message
):
    with pytest.raises(ImportFormatError) as refused:
        parse(io.BytesIO(kdbx_bytes), format="keepass_kdbx", password=password)

    assert refused.value.message == message


def test_a_damaged_kdbx_is_refused(kdbx_bytes):
    with pytest.raises(ImportFormatError, match="damaged"):
        parse(io.BytesIO(kdbx_bytes[:300]), format="keepass_kdbx", password=KDBX_PASSWORD)
    with pytest.raises(ImportFormatError, match="not a KeePass 2"):
        parse(fixture("keepassxc.csv"), format="keepass_kdbx", password=KDBX_PASSWORD)


# --- Malformed files ----------------------------------------------------------------------


def test_rows_with_the_wrong_column_count_are_row_errors_that_keep_no_values():
    rows = rows_of("wrong_columns.csv")

    assert [(row.row_number, row.errors) for row in rows] == [
        (2, []),
        (3, ["This row has 4 columns; the header has 10."]),
        (4, ["This row has 11 columns; the header has 10."]),
        (5, []),  # padded with empty cells by a spreadsheet: fine
        # row 6 is empty and skipped, but counted
        (
            7,
            [
                "There is no password.",
                "There is no name, username or URL to name this credential by.",
            ],
        ),
        (8, ["There is no password."]),
    ]
    short, long = rows[1], rows[2]
    assert (short.name, short.username, short.secret) == ("", "", "")
    assert (long.name, long.username, long.secret) == ("", "", "")


def test_quoted_multiline_notes_with_crlf():
    hyperv, following = rows_of("multiline_crlf.csv")

    assert hyperv.notes == 'Line one\nLine two, with a comma\n\nLine four "quoted"'
    assert hyperv.secret == "Fake-Pass-28!"
    # A spreadsheet shows the multi-line cell as one row: the next record is row 3.
    assert (following.row_number, following.name, following.notes) == (3, "Next row", "single line")


def test_bom_and_utf16_exports_read_like_plain_utf8():
    plain = rows_of("keepassxc.csv")

    for name in ("bom.csv", "utf16.csv"):
        rows = rows_of(name)
        assert [(row.name, row.secret, row.folder) for row in rows] == [
            (row.name, row.secret, row.folder) for row in plain
        ]


def test_json_and_kdbx_above_the_size_cap_are_refused(monkeypatch, kdbx_bytes):
    monkeypatch.setattr(reading, "WHOLE_FILE_MAX_BYTES", 200)

    with pytest.raises(ImportFormatError, match="Bitwarden export is larger than"):
        rows_of("bitwarden.json")
    with pytest.raises(ImportFormatError, match="KeePass database is larger than"):
        parse(io.BytesIO(kdbx_bytes), format="keepass_kdbx", password=KDBX_PASSWORD)


def test_truncated_bitwarden_json_is_refused_as_damaged():
    with pytest.raises(ImportFormatError, match="incomplete or damaged"):
        rows_of("bitwarden_truncated.json")


def test_broken_quoting_stops_the_file_at_the_row_it_happens():
    rows = parse(fixture("broken_quote.csv"), format="onepassword_csv")

    assert next(rows).name == "Good"
    with pytest.raises(ImportFormatError, match="Row 3 cannot be read as CSV"):
        next(rows)


def test_a_bad_byte_deep_in_a_streamed_file_is_found_when_reached():
    header = b"Title,Url,Username,Password,OTPAuth,Favorite,Archived,Tags,Notes\n"
    good = b"".join(
        b"Row %d,https://a.example,u,Fake-Pass,,false,false,,\n" % number for number in range(3000)
    )
    upload = io.BytesIO(header + good + b"Caf\xe9,https://b.example,u,Fake-Pass,,false,false,,\n")

    assert detect_format(upload) == "onepassword_csv"  # the sample is clean UTF-8
    rows = parse(upload, format="onepassword_csv")
    assert next(rows).row_number == 2
    with pytest.raises(ImportFormatError, match=r"not UTF-8 text \(at row \d+ or later\)"):
        list(rows)


def test_formula_and_markup_payloads_are_kept_as_given_and_flagged():
    formula, markup = rows_of("formula_xss.csv")

    assert formula.name == '=HYPERLINK("http://evil.example","click")'
    assert formula.username == "+cmd|' /C calc'!A0"
    assert formula.secret == "-2+3"
    assert formula.notes == "@SUM(1+1)"
    assert formula.url == "javascript:alert(1)"
    assert markup.name == "<script>alert(1)</script>"
    assert markup.username == "<img src=x onerror=alert(1)>"
    assert markup.notes == "\ttab-led note"
    assert all(
        is_formula(value)
        for value in (formula.name, formula.username, formula.secret, formula.notes, markup.notes)
    )
    assert not any(is_formula(value) for value in (markup.name, markup.username, markup.url))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", True),
        ("+1", True),
        ("-1", True),
        ("@SUM(A1)", True),
        ("\tcmd", True),
        ("\rcmd", True),
        ("", False),
        ("a=b", False),
        (" =1", False),
        ("Fake-Pass", False),
    ],
)
def test_is_formula(value, expected):
    assert is_formula(value) is expected


def test_overlong_values_are_row_errors_and_cut_to_fit_the_preview():
    name = "N" * (LIMITS["name"] + 1)
    notes = "x" * (LIMITS["notes"] + 1)
    upload = io.BytesIO(
        (
            '"Account","Login Name","Password","Web Site","Comments"\n'
            f'"{name}","admin","{"p" * (LIMITS["secret"] + 1)}","","{notes}"\n'
        ).encode()
    )

    [row] = parse(upload, format="keepass_csv")

    assert row.errors == [
        "The name is longer than 200 characters.",
        "The password is longer than 4096 characters.",
        "The notes is longer than 20000 characters.",
    ]
    assert len(row.name) == LIMITS["name"]
    assert len(row.secret) == LIMITS["secret"]


def test_a_row_without_a_name_is_named_by_its_url_host_or_username():
    upload = io.BytesIO(
        b"Title,Url,Username,Password,OTPAuth,Favorite,Archived,Tags,Notes\n"
        b",https://portal.example:8443/login,admin,Fake-Pass-53!,,false,false,,\n"
        b",,backup-user,Fake-Pass-54!,,false,false,,\n"
        b",,,Fake-Pass-55!,,false,false,,\n"
    )

    by_url, by_username, unnamed = parse(upload, format="onepassword_csv")

    assert (by_url.name, by_url.errors) == ("portal.example", [])
    assert (by_username.name, by_username.errors) == ("backup-user", [])
    assert unnamed.errors == ["There is no name, username or URL to name this credential by."]


def test_passwords_are_kept_exactly_as_given():
    upload = io.BytesIO(
        b'"Account","Login Name","Password","Web Site","Comments"\n'
        b'" Router ","admin"," spaced pass\t","",""\n'
    )

    [row] = parse(upload, format="keepass_csv")

    assert (row.name, row.secret) == ("Router", " spaced pass\t")


# --- TOTP and credential types ------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", ("", "")),
        ("jbsw y3dp ehpk 3pxp", ("JBSWY3DPEHPK3PXP", "")),
        ("JBSW-Y3DP-EHPK-3PXP====", ("JBSWY3DPEHPK3PXP", "")),
        (
            "otpauth://totp/Contoso:admin?secret=jbswy3dpehpk3pxp&issuer=Contoso",
            ("otpauth://totp/Contoso:admin?secret=jbswy3dpehpk3pxp&issuer=Contoso", ""),
        ),
        (
            "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&digits=6&period=30&algorithm=SHA1",
            ("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&digits=6&period=30&algorithm=SHA1", ""),
        ),
        ("not base32!", ("", "The TOTP secret is not a base32 secret or an otpauth:// link.")),
        ("JBSWY3DP", ("", "The TOTP secret is too short to generate codes.")),
        ("steam://ABCDEFGH", ("", "The TOTP secret is not a base32 secret or an otpauth:// link.")),
        (
            "otpauth://hotp/x?secret=JBSWY3DPEHPK3PXP&counter=1",
            ("", "The TOTP link is for counter-based (HOTP) codes, which are not supported."),
        ),
        (
            "otpauth://totp/x?issuer=nosecret",
            ("", "The TOTP link is not a valid otpauth://totp/ link with a secret."),
        ),
        (
            "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&algorithm=SHA256",
            (
                "",
                "The TOTP link asks for codes other than 6 digits every 30 seconds with SHA-1, "
                "which Keyhold cannot show.",
            ),
        ),
        (
            "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&digits=8",
            (
                "",
                "The TOTP link asks for codes other than 6 digits every 30 seconds with SHA-1, "
                "which Keyhold cannot show.",
            ),
        ),
    ],
)
def test_totp_normalisation(value, expected):
    assert normalise_totp(value) == expected


def test_totp_rules_match_the_codes_the_vault_shows():
    from intake.importers import base

    assert int(base.TOTP_DIGITS) == history.TOTP_DIGITS
    assert int(base.TOTP_PERIOD) == history.TOTP_STEP_SECONDS
    assert base.TOTP_MIN_BASE32_CHARS * 5 // 8 == history.TOTP_MIN_KEY_BYTES


def test_an_invalid_totp_is_a_row_error_and_is_not_kept():
    upload = io.BytesIO(
        b"Title,Url,Username,Password,OTPAuth,Favorite,Archived,Tags,Notes\n"
        b"NAS,,admin,Fake-Pass-56!,not-a-secret!,false,false,,\n"
    )

    [row] = parse(upload, format="onepassword_csv")

    assert row.errors == ["The TOTP secret is not a base32 secret or an otpauth:// link."]
    assert row.totp == ""


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        (("Domain Administrator", "DC01"), CredentialType.DOMAIN_ADMIN),
        (("", "CONTOSO domain admins"), CredentialType.DOMAIN_ADMIN),
        (("Enterprise Admin",), CredentialType.DOMAIN_ADMIN),
        (("Global Admin",), CredentialType.CLOUD_TENANT_ADMIN),
        (("", "M365 global administrator"), CredentialType.CLOUD_TENANT_ADMIN),
        (("Firewall",), CredentialType.FIREWALL_ADMIN),
        (("Local Administrator",), CredentialType.LOCAL_ADMIN),
        (("", "svc backup - Service Account"), CredentialType.SERVICE_ACCOUNT),
        (("API",), CredentialType.API_KEY),
        (("", "Graph API app"), CredentialType.API_KEY),
        (("domain_admin",), CredentialType.DOMAIN_ADMIN),
        (("Standard user",), CredentialType.STANDARD_USER),
        (("Other",), CredentialType.OTHER),
        (("Router", "Edge router"), ""),
        (("Website", "Rapid7 portal"), ""),
        (("", "Administrator"), ""),
        (("", "Capital One"), ""),
        ((), ""),
    ],
)
def test_credential_type_is_guessed_only_when_stated_plainly(texts, expected):
    guessed = guess_credential_type(*texts)

    assert guessed == expected
    assert type(guessed) is str


# --- Interface ----------------------------------------------------------------------------


def test_parse_refuses_an_unknown_format_and_a_mapping_for_a_vendor_format():
    with pytest.raises(ImportFormatError, match="Choose one of the import formats"):
        parse(fixture("generic.csv"), format="lastpass")
    with pytest.raises(ValueError, match="generic_csv only"):
        parse(fixture("itglue_passwords.csv"), format="itglue", mapping=GENERIC_MAPPING)


def test_a_vendor_format_chosen_for_another_vendors_file_is_refused():
    with pytest.raises(ImportFormatError, match=r"has no .* column.*not in the chosen format"):
        parse(fixture("keepassxc.csv"), format="itglue")


def test_a_django_upload_is_read_and_left_open_for_its_owner():
    upload = SimpleUploadedFile("passwords.csv", (FIXTURES / "itglue_passwords.csv").read_bytes())

    assert detect_format(upload, filename=upload.name) == "itglue"
    rows = parse(upload, format="itglue")
    assert next(rows).secret == "Fake-Pass-1!"
    del rows
    gc.collect()

    assert not upload.closed
    upload.seek(0)
    assert upload.read(3) == b"id,"


def test_imported_row_repr_leaves_out_the_secret_notes_and_totp():
    row = ImportedRow(row_number=1, name="DC01", secret="Fake-Pass", notes="PIN", totp="JBSW")

    assert "Fake-Pass" not in repr(row)
    assert "PIN" not in repr(row)
    assert "JBSW" not in repr(row)
    assert "DC01" in repr(row)


def test_parsers_never_log_values(caplog, kdbx_bytes):
    caplog.set_level(logging.DEBUG)
    secrets, messages = [], []
    for path in sorted(FIXTURES.glob("*")):
        if path.name.startswith("."):
            continue
        upload = io.BytesIO(path.read_bytes())
        try:
            kind = detect_format(upload, filename=path.name)
            mapping = GENERIC_MAPPING if kind == "generic_csv" else None
            secrets += [row.secret for row in parse(upload, format=kind, mapping=mapping)]
        except ImportFormatError as error:
            messages.append(error.message)
    secrets += [
        row.secret
        for row in parse(io.BytesIO(kdbx_bytes), format="keepass_kdbx", password=KDBX_PASSWORD)
    ]
    with pytest.raises(ImportFormatError) as refused:
        parse(io.BytesIO(kdbx_bytes), format="keepass_kdbx", password="Fake-Wrong-Master")

    secrets = [secret for secret in secrets if secret]
    assert len(secrets) > 30
    logged = caplog.text + "".join(str(record.args) for record in caplog.records)
    assert not [secret for secret in secrets if secret in logged]
    assert "Fake-" not in logged
    assert KDBX_PASSWORD not in logged
    assert len(messages) >= 5
    assert not [message for message in messages if "Fake-" in message]
    assert "Fake-Wrong-Master" not in refused.value.message
    assert refused.value.__cause__ is None
    assert refused.value.__suppress_context__
