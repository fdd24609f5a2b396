#Requires -Version 5.1
<#
.SYNOPSIS
Creates the service mailbox an ews-pipeline integration names as service_mailbox.

.DESCRIPTION
On premises (the OnPremises parameter set) it creates a user mailbox with a password: the pipeline
logs on as it with Basic or NTLM, and that password goes in the integration's secret (secret_name).

In Exchange Online (the ExchangeOnline parameter set, -Shared) it creates a shared mailbox: it needs
no licence and has no password, because the pipeline reaches it with app-only OAuth (auth_type
oauth2), acting as the mailbox through the application's grant (Grant-EwsAppAccess.ps1).

Nothing is changed when a mailbox with the address exists already; the script says so and returns it.

.PARAMETER Name
The mailbox's name, unique in the organisation (also the display name unless -DisplayName is given).

.PARAMETER UserPrincipalName
On premises: the logon name, which also becomes the primary SMTP address under the default policy.

.PARAMETER Password
On premises: the account's password, as a SecureString. Put the same password in the secret.

.PARAMETER Database
On premises: the mailbox database; Exchange picks one when omitted.

.PARAMETER OrganizationalUnit
On premises: the Active Directory OU for the account; the Users container when omitted.

.PARAMETER Shared
Exchange Online: create a shared mailbox (no licence, no password).

.PARAMETER PrimarySmtpAddress
Exchange Online: the shared mailbox's address (service_mailbox in the settings).

.PARAMETER DisplayName
The name shown in address lists and on invitations the service mailbox sends.

.EXAMPLE
.\New-ServiceMailbox.ps1 -Name 'ews-pipeline' -UserPrincipalName 'svc-ews@corp.example' -Password (Read-Host -AsSecureString -Prompt 'Password for svc-ews')

On premises: creates the user mailbox svc-ews@corp.example for Basic or NTLM logons.

.EXAMPLE
.\New-ServiceMailbox.ps1 -Shared -Name 'ews-pipeline' -PrimarySmtpAddress 'bookings@corp.example' -DisplayName 'Bookings' -WhatIf

Exchange Online: shows the shared mailbox it would create, without creating it.

.NOTES
Runs in: Exchange Server, Exchange Online
Guide: service-mailbox.md

.LINK
https://learn.microsoft.com/powershell/module/exchange/new-mailbox
#>
[CmdletBinding(SupportsShouldProcess, DefaultParameterSetName = 'OnPremises')]
param(
    [Parameter(Mandatory)]
    [ValidateLength(1, 64)]
    [string]$Name,

    [Parameter(Mandatory, ParameterSetName = 'OnPremises')]
    [ValidateNotNullOrEmpty()]
    [string]$UserPrincipalName,

    [Parameter(Mandatory, ParameterSetName = 'OnPremises')]
    [ValidateNotNull()]
    [SecureString]$Password,

    [Parameter(ParameterSetName = 'OnPremises')]
    [ValidateNotNullOrEmpty()]
    [string]$Database,

    [Parameter(ParameterSetName = 'OnPremises')]
    [ValidateNotNullOrEmpty()]
    [string]$OrganizationalUnit,

    [Parameter(Mandatory, ParameterSetName = 'ExchangeOnline')]
    [switch]$Shared,

    [Parameter(Mandatory, ParameterSetName = 'ExchangeOnline')]
    [ValidateNotNullOrEmpty()]
    [string]$PrimarySmtpAddress,

    [ValidateNotNullOrEmpty()]
    [string]$DisplayName
)

$ErrorActionPreference = 'Stop'
if (-not (Get-Command -Name New-Mailbox -ErrorAction SilentlyContinue)) {
    throw 'New-Mailbox is not available: run this in the Exchange Management Shell, or after Connect-ExchangeOnline.'
}

$address = if ($PSCmdlet.ParameterSetName -eq 'ExchangeOnline') { $PrimarySmtpAddress } else { $UserPrincipalName }
# Microsoft's docs warn that a lookup by an identity that matches nothing can return every mailbox:
# keep only an exact match.
$existing = @(Get-Mailbox -Identity $address -ErrorAction SilentlyContinue |
    Where-Object { "$($_.PrimarySmtpAddress)" -eq $address -or "$($_.UserPrincipalName)" -eq $address })
if ($existing.Count -gt 0) {
    Write-Warning "A mailbox for $address exists already ($($existing[0].RecipientTypeDetails)); nothing was created."
    return $existing[0]
}

$shownName = $Name
if ($DisplayName) {
    $shownName = $DisplayName
}
$newMailbox = @{ Name = $Name; DisplayName = $shownName }
if ($PSCmdlet.ParameterSetName -eq 'ExchangeOnline') {
    $newMailbox.Shared = $true
    $newMailbox.PrimarySmtpAddress = $PrimarySmtpAddress
    $kind = 'shared mailbox'
}
else {
    $newMailbox.UserPrincipalName = $UserPrincipalName
    $newMailbox.Password = $Password
    $newMailbox.ResetPasswordOnNextLogon = $false
    if ($Database) {
        $newMailbox.Database = $Database
    }
    if ($OrganizationalUnit) {
        $newMailbox.OrganizationalUnit = $OrganizationalUnit
    }
    $kind = 'user mailbox'
}

if ($PSCmdlet.ShouldProcess($address, "Create the ews-pipeline service $kind")) {
    New-Mailbox @newMailbox
}
