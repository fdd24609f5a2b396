"""The Exchange admin scripts in infra/exchange/ hold to what their guides say.

PowerShell does not run here, so the scripts are read as text: a small reader splits them into
tokens, finds each script's param() block and help, and finds every command call with the parameters
it passes. Against that: every example (in the guides and in each script's .EXAMPLE) names only
declared parameters and fits a parameter set with all its mandatory ones; every cmdlet is one of the
Exchange and PowerShell cmdlets listed below, checked against Microsoft's reference, and gets only
parameters from that reference; every change sits behind $PSCmdlet.ShouldProcess, so -WhatIf
changes nothing; brackets balance. With tree-sitter-powershell installed, each script must also
parse with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pydantic import ValidationError

from pipeline.errors import ErrorCode
from pipeline.integrations import AuthType, ConnectionMethod, IntegrationSettings

ADMIN = Path(__file__).parents[2] / "infra" / "exchange"
SCRIPTS = sorted(ADMIN.glob("*.ps1"))
GUIDES = sorted(ADMIN.glob("*.md"))
SERVER, ONLINE = "Exchange Server", "Exchange Online"
BOTH = frozenset({SERVER, ONLINE})

# Cmdlet -> (where it exists, the parameters these files may pass it). The Exchange cmdlets were
# checked against learn.microsoft.com/powershell/module/exchange/<cmdlet> (its sources,
# MicrosoftDocs/office-docs-powershell exchange/exchange-ps/ExchangePowerShell/<cmdlet>.md): the
# "available in" line, and each parameter in the cmdlet's syntax. PowerShell's own cmdlets against
# MicrosoftDocs/PowerShell-Docs reference/5.1, the version of the Exchange Management Shell.
EXCHANGE_CMDLETS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    name: (where, frozenset(parameters.split()))
    for name, where, parameters in [
        ("Add-DistributionGroupMember", BOTH, "Identity Member"),
        ("Add-MailboxFolderPermission", BOTH, "Identity User AccessRights SharingPermissionFlags"),
        ("Connect-ExchangeOnline", frozenset({ONLINE}), "UserPrincipalName"),
        ("Get-CASMailbox", BOTH, "Identity"),
        ("Get-CalendarProcessing", BOTH, "Identity"),
        ("Get-DistributionGroup", BOTH, "Identity"),
        ("Get-DistributionGroupMember", BOTH, "Identity ResultSize"),
        ("Get-Group", BOTH, "Identity"),
        ("Get-Mailbox", BOTH, "Identity RecipientTypeDetails ResultSize"),
        ("Get-MailboxFolderPermission", BOTH, "Identity User"),
        ("Get-MailboxFolderStatistics", BOTH, "Identity FolderScope"),
        ("Get-ManagementRoleAssignment", BOTH, "Identity Role RoleAssignee GetEffectiveUsers"),
        ("Get-ManagementScope", BOTH, "Identity"),
        # RetrieveEwsOperationAccessPolicy is named by Set-OrganizationConfig's EwsAllowedAppIDs
        # example; Enable-EwsAccess.ps1 passes it only where the session's cmdlet has it.
        ("Get-OrganizationConfig", BOTH, "RetrieveEwsOperationAccessPolicy"),
        ("Get-ServicePrincipal", frozenset({ONLINE}), "Identity"),
        ("New-DistributionGroup", BOTH, "Name RoomList PrimarySmtpAddress"),
        ("New-Mailbox", BOTH, "Name DisplayName UserPrincipalName Password ResetPasswordOnNextLogon "
                              "Database OrganizationalUnit Shared PrimarySmtpAddress"),
        ("New-ManagementRoleAssignment", BOTH,
         "Name Role User CustomRecipientWriteScope App CustomResourceScope"),
        ("New-ManagementScope", BOTH, "Name RecipientRestrictionFilter"),
        ("New-ServicePrincipal", frozenset({ONLINE}), "AppId ObjectId DisplayName"),
        ("Set-CASMailbox", BOTH, "Identity EwsEnabled EwsAllowList"),
        ("Set-CalendarProcessing", BOTH, "Identity AutomateProcessing DeleteSubject AddOrganizerToSubject"),
        ("Set-Mailbox", BOTH, "Identity GrantSendOnBehalfTo"),
        ("Set-MailboxFolderPermission", BOTH, "Identity User AccessRights SharingPermissionFlags"),
        ("Set-OrganizationConfig", BOTH, "EwsEnabled EwsAllowedAppIDs EwsAllowList"),
        ("Test-ServicePrincipalAuthorization", frozenset({ONLINE}), "Identity Resource"),
    ]
}
POWERSHELL_CMDLETS: dict[str, frozenset[str]] = {
    name: frozenset(parameters.split())
    for name, parameters in [
        ("ForEach-Object", ""), ("Format-List", "Property"), ("Get-Command", "Name"),
        ("Get-ItemProperty", "Path"), ("Invoke-WebRequest", "Uri Method UseBasicParsing TimeoutSec Proxy"),
        ("Out-Null", ""), ("Read-Host", "AsSecureString Prompt"), ("Select-Object", "Property First Unique"),
        ("Test-Path", "Path"), ("Where-Object", ""), ("Write-Verbose", "Message"),
        ("Write-Warning", "Message"),
    ]
}
ALLOWED = {name.lower(): (name, {p.lower() for p in params}) for name, params in
           [*((name, params) for name, (_, params) in EXCHANGE_CMDLETS.items()), *POWERSHELL_CMDLETS.items()]}
SWITCH_COMMON = {"verbose", "debug", "whatif", "confirm"}
VALUE_COMMON = {"erroraction", "warningaction", "informationaction", "errorvariable", "warningvariable",
                "informationvariable", "outvariable", "outbuffer", "pipelinevariable"}
# Verbs of cmdlets that change something: a script calls them only when ShouldProcess agrees.
CHANGING = {"add", "clear", "disable", "enable", "grant", "install", "new", "remove", "revoke", "set",
            "update"}
# Comment-based help's keywords (about_Comment_Based_Help), as one regex alternation.
HELP_KEYWORDS = "SYNOPSIS|DESCRIPTION|PARAMETER|EXAMPLE|INPUTS|OUTPUTS|NOTES|LINK|COMPONENT|ROLE"

CMDLET_NAME = re.compile(r"^[A-Z][A-Za-z]+-[A-Z][A-Za-z0-9]*$")
SCRIPT_CALL = re.compile(r"^\.[\\/]([A-Z][A-Za-z]+-[A-Za-z]+\.ps1)$")
PARAMETER_NAME = re.compile(r"^-([A-Za-z][A-Za-z0-9]*)(:?)$")
CLOSER = {"(": ")", "{": "}", "[": "]", "@(": ")", "@{": "}", "$(": ")"}
CONTINUATION = re.compile(r"`\r?\n")


@dataclass(frozen=True)
class Token:
    kind: str  # word, string, open, close, sep (, ; |), newline, comment
    text: str
    line: int
    spaced: bool  # whitespace, or the start of the text, before it


def string_end(source: str, start: int) -> int:
    """The index after the string starting at `start`: '...' or "..." (which may hold $(...))."""
    quote, i = source[start], start + 1
    while i < len(source):
        if quote == '"' and source[i] == "`":
            i += 2
        elif quote == '"' and source.startswith("$(", i):
            depth, i = 1, i + 2
            while depth and i < len(source):
                if source[i] in "'\"":
                    i = string_end(source, i)
                    continue
                depth += {"(": 1, ")": -1}.get(source[i], 0)
                i += 1
        elif source[i] == quote and source[i + 1:i + 2] == quote:
            i += 2  # a doubled quote is the quote itself
        elif source[i] == quote:
            return i + 1
        else:
            i += 1
    raise ValueError(f"line {source.count(chr(10), 0, start) + 1}: the string never ends")


def tokenize(source: str) -> list[Token]:
    """PowerShell's tokens, roughly: enough to find commands, parameters, strings and brackets."""
    tokens: list[Token] = []
    i, spaced = 0, True
    while i < len(source):
        char, line = source[i], source.count("\n", 0, i) + 1
        continuation = CONTINUATION.match(source, i)
        if continuation or char in " \t\r":
            i, spaced = continuation.end() if continuation else i + 1, True
            continue
        if char == "\n":
            kind, end = "newline", i + 1
        elif source.startswith("<#", i):
            if (close := source.find("#>", i)) < 0:
                raise ValueError(f"line {line}: the <# comment never ends")
            kind, end = "comment", close + 2
        elif char == "#":
            kind, end = "comment", source.find("\n", i) if "\n" in source[i:] else len(source)
        elif char in "'\"":
            kind, end = "string", string_end(source, i)
        elif source.startswith(("@(", "@{", "$("), i):
            kind, end = "open", i + 2
        elif char in "({[" or char in ")}]" or char in ",;|":
            kind, end = "open" if char in "({[" else "close" if char in ")}]" else "sep", i + 1
        else:
            kind, end = "word", i
            while end < len(source) and source[end] not in " \t\r\n(){}[],;|'\"" \
                    and not CONTINUATION.match(source, end):
                end += 1
        tokens.append(Token(kind, source[i:end], line, spaced))
        i, spaced = end, False
    return tokens


def code_of(source: str) -> list[Token]:
    return [token for token in tokenize(source) if token.kind != "comment"]


def pairs(tokens: list[Token]) -> dict[int, int]:
    """Opening index -> closing index, and the reverse; ValueError when brackets do not balance."""
    matched, stack = {}, []
    for index, token in enumerate(tokens):
        if token.kind == "open":
            stack.append(index)
        elif token.kind == "close":
            if not stack or CLOSER[tokens[stack[-1]].text] != token.text:
                raise ValueError(f"line {token.line}: unexpected {token.text!r}")
            opening = stack.pop()
            matched[opening], matched[index] = index, opening
    if stack:
        raise ValueError(f"line {tokens[stack[-1]].line}: {tokens[stack[-1]].text!r} is never closed")
    return matched


@dataclass
class Call:
    """One command of a pipeline and its arguments at its own depth."""

    name: str
    index: int  # of the command's token
    line: int
    piped: bool
    # (kind, text), kind being "param", "value", "comma" or "splat"
    items: list[tuple[str, str]] = field(default_factory=list)


def calls_in(tokens: list[Token]) -> list[Call]:
    """Every command at a command position: first in its statement, pipeline element or group."""
    calls = []
    for index, token in enumerate(tokens):
        before = tokens[index - 1] if index else None
        at_start = before is None or before.kind in ("newline", "open") or before.text in (";", "|", "=", "&")
        is_command = CMDLET_NAME.match(token.text) or SCRIPT_CALL.match(token.text)
        if token.kind != "word" or not at_start or not is_command:
            continue
        call, depth = Call(token.text, index, token.line, piped=before is not None and before.text == "|"), 0
        for argument in tokens[index + 1:]:
            if depth == 0 and (argument.kind in ("newline", "close") or argument.text in (";", "|")):
                break
            if depth == 0:
                named = PARAMETER_NAME.match(argument.text) if argument.kind == "word" else None
                if named:
                    call.items.append(("param", named[1] + named[2]))
                elif argument.text == ",":
                    call.items.append(("comma", ","))
                elif argument.kind == "word" and argument.text.startswith("@"):
                    call.items.append(("splat", argument.text[1:]))
                elif argument.spaced or not call.items or call.items[-1][0] != "value":
                    call.items.append(("value", argument.text))  # a glued token continues the value
            depth += {"open": 1, "close": -1}.get(argument.kind, 0)
        calls.append(call)
    return calls


def splat_keys(tokens: list[Token], variable: str) -> set[str]:
    """The keys $variable gets: in `$variable = @{...}`, and as `$variable.Key =` or `$variable['Key'] =`."""
    keys, name, matched = set(), "$" + variable.lower(), pairs(tokens)
    for index, token in enumerate(tokens):
        text, after = token.text.lower(), [t.text for t in tokens[index + 1:index + 5]]
        if text == name and after[:2] == ["=", "@{"]:
            depth = 0
            for inner in range(index + 3, matched[index + 2]):
                if depth == 0 and tokens[inner].kind in ("word", "string") and tokens[inner + 1].text == "=":
                    keys.add(tokens[inner].text.strip("'\""))
                depth += {"open": 1, "close": -1}.get(tokens[inner].kind, 0)
        elif text.startswith(name + ".") and after[:1] == ["="]:
            keys.add(token.text.split(".", 1)[1])
        elif text == name and len(after) == 4 and after[0] == "[" and after[3] == "=":
            keys.add(after[1].strip("'\""))
    return keys


@dataclass(frozen=True)
class Setting:
    """One [Parameter()] attribute: its parameter set (None: all), Mandatory, ValueFromPipeline*."""

    set_name: str | None
    mandatory: bool
    from_pipeline: bool


@dataclass(frozen=True)
class ScriptParameter:
    name: str
    type_name: str
    aliases: tuple[str, ...]
    settings: tuple[Setting, ...]

    def settings_in(self, set_name: str) -> list[Setting]:
        """Its settings in `set_name`; none when it is not in that set."""
        if not self.settings:
            return [Setting(None, False, False)]
        return [setting for setting in self.settings if setting.set_name in (None, set_name)]


def split_commas(tokens: list[Token]) -> list[list[Token]]:
    groups: list[list[Token]] = [[]]
    depth = 0
    for token in tokens:
        if depth == 0 and token.text == ",":
            groups.append([])
        elif token.kind != "newline":
            groups[-1].append(token)
        depth += {"open": 1, "close": -1}.get(token.kind, 0)
    return [group for group in groups if group]


def attribute_arguments(tokens: list[Token]) -> dict[str, str]:
    """`Mandatory, ParameterSetName = 'A'` -> {"mandatory": "$true", "parametersetname": "A"}."""
    arguments = {}
    for group in split_commas(tokens):
        name, _, value = " ".join(token.text for token in group).partition("=")
        arguments[name.strip().lower()] = value.strip().strip("'\"") or "$true"
    return arguments


@dataclass
class Script:
    name: str
    tokens: list[Token]
    help: dict[str, list[str]]
    binding: dict[str, str]  # [CmdletBinding(...)] arguments
    parameters: list[ScriptParameter]

    def parameter(self, written: str) -> ScriptParameter | None:
        return next((p for p in self.parameters
                     if written.lower() in (p.name.lower(), *(a.lower() for a in p.aliases))), None)

    def set_names(self) -> set[str]:
        return {s.set_name for p in self.parameters for s in p.settings if s.set_name} or {"(all)"}


def read_script(path: Path) -> Script:
    source = path.read_text()
    tokens = code_of(source)
    matched = pairs(tokens)
    help_text = next((token.text[2:-2] for token in tokenize(source)
                      if token.kind == "comment" and token.text.startswith("<#")), "")
    sections: dict[str, list[str]] = {}
    for section in re.finditer(rf"^\.({HELP_KEYWORDS})\b[ \t]*(.*)\n((?:(?!\.(?:{HELP_KEYWORDS})\b).*\n?)*)",
                               help_text, re.M):
        sections.setdefault(section[1], []).append((section[2] + "\n" + section[3]).strip())
    start = next(i for i, t in enumerate(tokens) if t.text.lower() == "param" and tokens[i + 1].text == "(")
    binding = next(i for i in range(start) if tokens[i].text.lower() == "cmdletbinding")
    parameters = []
    for group in split_commas(tokens[start + 2:matched[start + 1]]):
        type_name, index = "", 0
        aliases: tuple[str, ...] = ()
        settings: list[Setting] = []
        group_pairs = pairs(group)
        while group[index].text == "[":
            inner = group[index + 1:group_pairs[index]]
            if len(inner) > 1 and inner[1].text == "(":
                arguments = attribute_arguments(inner[2:-1])
                if inner[0].text.lower() == "parameter":
                    settings.append(Setting(arguments.get("parametersetname"),
                                            arguments.get("mandatory") == "$true",
                                            any(key.startswith("valuefrompipeline") for key in arguments)))
                elif inner[0].text.lower() == "alias":
                    aliases = tuple(t.text.strip("'\"") for t in inner if t.kind == "string")
            else:
                type_name = "".join(t.text for t in inner)
            index = group_pairs[index] + 1
        parameters.append(ScriptParameter(group[index].text[1:], type_name, aliases, tuple(settings)))
    return Script(path.name, tokens, sections, attribute_arguments(tokens[binding + 2:matched[binding + 1]]),
                  parameters)


def invocation_problems(call: Call, script: Script) -> list[str]:
    """What is wrong with this call of `script`: unknown, repeated or valueless parameters, positional
    arguments, or no parameter set that takes the parameters given and gets all its mandatory ones."""
    problems: list[str] = []
    used: list[ScriptParameter] = []
    items, i = call.items, 0
    while i < len(items):
        kind, text = items[i]
        i += 1
        if kind != "param":
            problems.append(f"{text!r} is a positional argument or a splat: name the parameter")
            continue
        name, value_given = text.rstrip(":"), text.endswith(":")
        parameter = script.parameter(name)
        if parameter is None and name.lower() in SWITCH_COMMON | VALUE_COMMON:
            if name.lower() in ("whatif", "confirm") and "supportsshouldprocess" not in script.binding:
                problems.append(f"-{name} needs SupportsShouldProcess")
            takes_value = name.lower() in VALUE_COMMON
        elif parameter is None:
            problems.append(f"-{name} is not a parameter of {script.name}")
            takes_value = True
        else:
            if parameter in used:
                problems.append(f"-{name} is given twice")
            used.append(parameter)
            takes_value = parameter.type_name.lower() != "switch"
        if value_given or not takes_value:
            continue
        if i < len(items) and items[i][0] == "value":
            i += 1
            while i + 1 < len(items) and items[i][0] == "comma" and items[i + 1][0] == "value":
                i += 2  # a list: a, b, c
        else:
            problems.append(f"-{name} has no value")
    fitting, why = [], {}
    for set_name in sorted(script.set_names()):
        outside = [p.name for p in used if not p.settings_in(set_name)]
        missing = [p.name for p in script.parameters if p not in used
                   and any(s.mandatory for s in p.settings_in(set_name))
                   and not (call.piped and any(s.from_pipeline for s in p.settings_in(set_name)))]
        if not outside and not missing:
            fitting.append(set_name)
        why[set_name] = f"not in it: {outside}" if outside else f"missing: {missing}"
    if not fitting:
        problems.append(f"fits no parameter set ({why})")
    elif len(fitting) > 1 and script.binding.get("defaultparametersetname") not in fitting:
        problems.append(f"PowerShell cannot choose among the parameter sets {fitting}")
    return problems


def cmdlet_problems(call: Call, tokens: list[Token]) -> list[str]:
    """An unlisted cmdlet, or a parameter (splatted ones too) its reference does not list."""
    if call.name.lower() not in ALLOWED:
        return [f"line {call.line}: {call.name} is not an allow-listed cmdlet"]
    name, listed = ALLOWED[call.name.lower()]
    allowed = listed | (SWITCH_COMMON - {"whatif", "confirm"}) | VALUE_COMMON
    passed = [text.rstrip(":") for kind, text in call.items if kind == "param"]
    for kind, text in call.items:
        if kind == "splat":
            passed += sorted(splat_keys(tokens, text)) or [f"(@{text}, whose keys cannot be seen)"]
    problems = [f"line {call.line}: {name} -{p} is not in its allow-list"
                for p in passed if p.lower() not in allowed]
    if name == "Get-Command":  # a script that checks for a cmdlet must name a listed one
        looked_for = [call.items[i + 1][1] for i, (kind, text) in enumerate(call.items[:-1])
                      if kind == "param" and text.lower() == "name"]
        problems += [f"line {call.line}: Get-Command -Name {value}: not allow-listed" for value in looked_for
                     if value.lower() not in ALLOWED]
    return problems


def unguarded_changes(tokens: list[Token]) -> list[str]:
    """Changing calls outside `if ($PSCmdlet.ShouldProcess(...)) {...}`, and not after an
    `if (-not $PSCmdlet.ShouldProcess(...)) { return }` in their block."""
    matched = pairs(tokens)
    at_call = {call.index for call in calls_in(tokens)}
    guarded, negative_guards, problems = [False], set(), []
    for index, token in enumerate(tokens):
        if token.text == "{":
            condition = ""
            if index and tokens[index - 1].text == ")":
                opening = matched[index - 1]
                if opening and tokens[opening - 1].text.lower() in ("if", "elseif"):
                    condition = " ".join(t.text for t in tokens[opening:index]).lower()
            asks = "$pscmdlet.shouldprocess" in condition
            if asks and "-not" in condition:
                negative_guards.add(matched[index])
            guarded.append(guarded[-1] or (asks and "-not" not in condition))
        elif token.text == "}" and tokens[matched[index]].text == "{":
            guarded.pop()
            if index in negative_guards:
                guarded[-1] = True
        elif index in at_call and not guarded[-1] and CMDLET_NAME.match(token.text) and (
                token.text.split("-")[0].lower() in CHANGING or token.text == "Invoke-WebRequest"):
            problems.append(f"line {token.line}: {token.text} runs even under -WhatIf")
    return problems


def code_blocks(guide: str) -> list[str]:
    """A guide's ```powershell blocks."""
    return re.findall(r"```powershell\n(.*?)```", guide, re.S)


def example_calls(example: str) -> list[Call]:
    """The calls in an .EXAMPLE's code: its lines up to the first blank one."""
    return calls_in(code_of(example.split("\n\n")[0]))


def read_all() -> tuple[dict[str, Script], dict[str, str]]:
    """The scripts that can be read, and why the others cannot (each fails its own test)."""
    scripts, unreadable = {}, {}
    for path in SCRIPTS:
        try:
            scripts[path.name] = read_script(path)
        except (ValueError, StopIteration, IndexError, KeyError) as exc:
            unreadable[path.name] = f"{type(exc).__name__}: {exc}"
    return scripts, unreadable


def readable_blocks() -> list[tuple[str, str]]:
    """(where, code) for each guide's code block that tokenizes with balanced brackets."""
    blocks = []
    for guide in GUIDES:
        for number, block in enumerate(code_blocks(guide.read_text()), start=1):
            try:
                pairs(code_of(block))
            except ValueError:
                continue  # test_the_code_reads reports it
            blocks.append((f"{guide.name} block {number}", block))
    return blocks


SCRIPT_BY_NAME, UNREADABLE = read_all()
EXAMPLES = [pytest.param(call, block, id=f"{where}:{call.line} {call.name}")
            for where, block in readable_blocks() for call in calls_in(code_of(block))] + [
    pytest.param(call, example, id=f"{script.name} .EXAMPLE {number} {call.name}")
    for script in SCRIPT_BY_NAME.values()
    for number, example in enumerate(script.help.get("EXAMPLE", []), start=1)
    for call in example_calls(example)]


def script_for(path: Path) -> Script:
    if path.name in UNREADABLE:
        pytest.fail(f"{path.name} cannot be read: {UNREADABLE[path.name]}")
    return SCRIPT_BY_NAME[path.name]


def test_the_code_reads() -> None:
    """Every script and guide code block tokenizes, with brackets that balance."""
    assert UNREADABLE == {}
    for guide in GUIDES:
        for block in code_blocks(guide.read_text()):
            pairs(code_of(block))


def test_the_scripts_the_guides_mention_exist_and_the_readme_lists_them_all() -> None:
    assert len(SCRIPTS) >= 8 and {"README.md", "CHECKLIST.md"} <= {guide.name for guide in GUIDES}
    mentioned = {name for guide in GUIDES for name in re.findall(r"\b[A-Z]\w+-\w+\.ps1\b", guide.read_text())}
    assert mentioned - {path.name for path in SCRIPTS} == set()
    readme = (ADMIN / "README.md").read_text()
    assert [path.name for path in SCRIPTS if path.name not in readme] == []


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda path: path.name)
def test_a_script_is_an_advanced_script_with_typed_parameters_and_help(path: Path) -> None:
    script, source = script_for(path), path.read_text()
    assert source.isascii(), "curly quotes (and any non-ASCII character) do not belong in a script"
    assert "supportsshouldprocess" in script.binding and "$PSCmdlet.ShouldProcess(" in source
    assert "$ErrorActionPreference = 'Stop'" in source
    assert all(p.type_name for p in script.parameters), "every parameter has a type"
    assert any(s.mandatory for p in script.parameters for s in p.settings), "it has mandatory parameters"
    assert script.help.get("SYNOPSIS", [""])[0] and script.help.get("EXAMPLE")
    documented = {text.split()[0].lower() for text in script.help.get("PARAMETER", [])}
    assert documented == {p.name.lower() for p in script.parameters}, "one .PARAMETER per parameter"
    assert any(link.startswith("https://learn.microsoft.com/") for link in script.help.get("LINK", []))
    notes = " ".join(script.help.get("NOTES", []))
    guide = re.search(r"Guide: (\S+\.md)", notes)
    assert guide and path.name in (ADMIN / guide[1]).read_text(), "its guide exists and names it"
    literals = " ".join(token.text for token in script.tokens if token.kind == "string")
    assert not re.search(r"@[\w-]+\.\w|[0-9a-f]{8}-[0-9a-f]{4}-|onmicrosoft", literals), "tenant data in code"


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda path: path.name)
def test_a_script_calls_allow_listed_cmdlets_with_listed_parameters_where_they_exist(path: Path) -> None:
    script = script_for(path)
    runs_in = re.search(r"Runs in: (.+)", " ".join(script.help.get("NOTES", [])))
    assert runs_in, "its .NOTES say where it runs: Runs in: Exchange Server, Exchange Online"
    places = {place.strip() for place in runs_in[1].split(",")}
    assert places and places <= BOTH
    calls = calls_in(script.tokens)
    assert [problem for call in calls for problem in cmdlet_problems(call, script.tokens)] == []
    elsewhere = {call.name for call in calls if call.name in EXCHANGE_CMDLETS
                 and not places <= EXCHANGE_CMDLETS[call.name][0]}
    assert elsewhere == set(), f"not available everywhere the script runs ({places})"


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda path: path.name)
def test_whatif_changes_nothing(path: Path) -> None:
    assert unguarded_changes(script_for(path).tokens) == []


@pytest.mark.parametrize(("call", "text"), EXAMPLES)
def test_an_example_fits_what_it_calls(call: Call, text: str) -> None:
    named = SCRIPT_CALL.match(call.name)
    if named is None:
        assert cmdlet_problems(call, code_of(text)) == []
    else:
        assert named[1] in SCRIPT_BY_NAME or named[1] in UNREADABLE, f"{call.name} does not exist"
        script_for(ADMIN / named[1])
        assert invocation_problems(call, SCRIPT_BY_NAME[named[1]]) == []


def test_every_example_of_a_script_calls_it() -> None:
    for script in SCRIPT_BY_NAME.values():
        for example in script.help["EXAMPLE"]:
            assert any(call.name.endswith(script.name) for call in example_calls(example)), example


def test_the_readme_maps_every_valid_combination_of_settings_to_scripts() -> None:
    valid = set()
    for method in ConnectionMethod:
        for auth in AuthType:
            try:
                IntegrationSettings(integration_id="x", connection_method=method, auth_type=auth,
                                    ews_url="https://mail.example.com/EWS/Exchange.asmx", secret_name="s",
                                    personal_secret_template="s/{mailbox}", service_mailbox="svc@example.com",
                                    oauth_tenant_id="t")
            except ValidationError:
                continue
            valid.add((method.value, auth.value))
    rows = re.findall(r"^\| `(\w+)` \| `(\w+)` \|(.*)\|$", (ADMIN / "README.md").read_text(), re.M)
    assert {(method, auth) for method, auth, _ in rows} == valid
    for _, _, cells in rows:
        named = set(re.findall(r"[A-Z]\w+-\w+\.ps1", cells))
        assert named and named <= {path.name for path in SCRIPTS}


@pytest.mark.parametrize("guide", GUIDES, ids=lambda path: path.name)
def test_a_guide_cites_microsoft_and_links_the_troubleshooting_codes(guide: Path) -> None:
    text = guide.read_text()
    assert "https://learn.microsoft.com/" in text
    for target in re.findall(r"\]\(((?!https?:)[^)#]+)", text):
        assert (guide.parent / target).exists(), f"a link to {target}, which does not exist"
    codes = re.findall(r"\[`([A-Z_]+)`\]\(\.\./\.\./docs/troubleshooting\.md#", text)
    assert set(codes) <= {code.value for code in ErrorCode}
    assert codes or guide.name == "README.md", "link the troubleshooting codes the steps prevent"


def test_the_checks_report_what_they_are_for() -> None:
    """Negative controls: broken examples, brackets, cmdlets and unguarded changes are reported."""
    demo = Script("Show-Demo.ps1", [], {}, {"supportsshouldprocess": "$true"}, [
        ScriptParameter("Name", "string", (), (Setting(None, True, False),)),
        ScriptParameter("Shared", "switch", (), (Setting("Online", True, False),)),
        ScriptParameter("Upn", "string", ("Login",), (Setting("OnPremises", True, False),)),
    ])

    def problems(line: str) -> str:
        return " ".join(invocation_problems(calls_in(code_of(line))[0], demo))

    assert problems(r".\Show-Demo.ps1 -Name a -Login b -WhatIf") == ""
    assert problems(r".\Show-Demo.ps1 -Name 'a', 'b' -Shared") == ""
    assert "fits no parameter set" in problems(r".\Show-Demo.ps1 -Name a")
    assert "fits no parameter set" in problems(r".\Show-Demo.ps1 -Name a -Shared -Upn b")
    assert "is not a parameter" in problems(r".\Show-Demo.ps1 -Name a -Upn b -Colour red")
    assert "positional" in problems(r".\Show-Demo.ps1 a -Upn b")
    assert "has no value" in problems(r".\Show-Demo.ps1 -Upn b -Name")
    with pytest.raises(ValueError, match="never closed"):
        pairs(code_of("if ($x) { Get-Mailbox -Identity (Get-Foo) "))
    wrong = code_of("Get-Mailboxes -Identity x\nSet-Mailbox -Identity x -Colour red\n")
    assert len([p for call in calls_in(wrong) for p in cmdlet_problems(call, wrong)]) == 2
    splatted = code_of("$change = @{ Identity = 'x' }\n$change.Colour = 'red'\nSet-Mailbox @change\n")
    assert cmdlet_problems(calls_in(splatted)[0], splatted) == [
        "line 3: Set-Mailbox -Colour is not in its allow-list"]
    change = "Set-Mailbox -Identity x"
    assert unguarded_changes(code_of(f"if ($x) {{ {change} }}\n"))
    assert not unguarded_changes(code_of(f"if ($PSCmdlet.ShouldProcess('x')) {{ {change} }}\n"))
    assert not unguarded_changes(code_of(f"if (-not $PSCmdlet.ShouldProcess('x')) {{ return }}\n{change}\n"))


def test_the_scripts_parse_as_powershell() -> None:
    tree_sitter = pytest.importorskip("tree_sitter")
    grammar = pytest.importorskip("tree_sitter_powershell")
    parser = tree_sitter.Parser(tree_sitter.Language(grammar.language()))
    for path in SCRIPTS:
        stack, errors = [parser.parse(path.read_bytes()).root_node], []
        while stack:
            node = stack.pop()
            if node.type == "ERROR" or node.is_missing:
                errors.append(node.start_point[0] + 1)
            stack.extend(node.children)
        # The grammar refuses unquoted lists of words (-Property A, B), so the scripts quote them.
        assert errors == [], f"{path.name}: tree-sitter-powershell cannot parse lines {sorted(errors)}"
