#Requires -Version 5.1
<#
.SYNOPSIS
Gives the ews-pipeline service account Editor rights on users' calendars (the delegate connection method).

.DESCRIPTION
For each mailbox, finds its default calendar (by folder type, so a localised name such as "Kalender"
works) and adds, or updates, an Editor permission entry for the service account with
Add-MailboxFolderPermission (Set-MailboxFolderPermission when an entry exists). Editor lets the
pipeline read the calendar, create bookings in it and move or cancel them. Without it EWS answers
ErrorAccessDenied, which the pipeline reports as ACCESS_DENIED.

-GrantSendOnBehalf also adds the service account to the mailbox's GrantSendOnBehalfTo, which Exchange
may require before send_invite can send meeting requests from the user's calendar.

-AsCalendarDelegate (Exchange Online only) makes the entry a calendar delegate
(-SharingPermissionFlags Delegate): Exchange then also sends the user's meeting requests and responses
to the service mailbox. The pipeline does not need that.

.PARAMETER ServiceAccount
The service mailbox the pipeline logs on as (service_mailbox in the settings).

.PARAMETER Mailbox
The users whose calendars the pipeline books into; also taken from the pipeline (Get-Mailbox output).

.PARAMETER GrantSendOnBehalf
Also let the service account send on behalf of each user.

.PARAMETER AsCalendarDelegate
Exchange Online only: add the entry with -SharingPermissionFlags Delegate.

.PARAMETER CanViewPrivateItems
Exchange Online only, with -AsCalendarDelegate: let the delegate open private items.

.EXAMPLE
.\Grant-CalendarDelegateAccess.ps1 -ServiceAccount 'svc-ews@corp.example' -Mailbox 'alice@corp.example', 'bob@corp.example' -GrantSendOnBehalf

Gives svc-ews Editor rights on Alice's and Bob's calendars and lets it send on their behalf.

.EXAMPLE
Get-DistributionGroupMember -Identity 'Interviewers' -ResultSize Unlimited | .\Grant-CalendarDelegateAccess.ps1 -ServiceAccount 'svc-ews@corp.example' -WhatIf

Shows the permission entries it would add for every member of the Interviewers group.

.NOTES
Runs in: Exchange Server, Exchange Online
Guide: delegate-access.md

.LINK
https://learn.microsoft.com/powershell/module/exchange/add-mailboxfolderpermission
#>
[CmdletBinding(SupportsShouldProcess)]
param(
    [Parameter(Mandatory)]
    [ValidateNotNullOrEmpty()]
    [string]$ServiceAccount,

    [Parameter(Mandatory, ValueFromPipeline, ValueFromPipelineByPropertyName)]
    [Alias('PrimarySmtpAddress')]
    [ValidateNotNullOrEmpty()]
    [string[]]$Mailbox,

    [switch]$GrantSendOnBehalf,

    [switch]$AsCalendarDelegate,

    [switch]$CanViewPrivateItems
)

begin {
    $ErrorActionPreference = 'Stop'
    $addPermission = Get-Command -Name Add-MailboxFolderPermission -ErrorAction SilentlyContinue
    if (-not $addPermission) {
        throw 'Add-MailboxFolderPermission is not available: run this in the Exchange Management Shell, or after Connect-ExchangeOnline.'
    }
    if ($CanViewPrivateItems -and -not $AsCalendarDelegate) {
        throw '-CanViewPrivateItems needs -AsCalendarDelegate: Exchange accepts CanViewPrivateItems only together with Delegate.'
    }
    if ($AsCalendarDelegate -and -not $addPermission.Parameters.ContainsKey('SharingPermissionFlags')) {
        throw '-AsCalendarDelegate needs Exchange Online: on premises Add-MailboxFolderPermission has no SharingPermissionFlags.'
    }
    $flags = $null
    if ($AsCalendarDelegate) {
        $flags = 'Delegate'
        if ($CanViewPrivateItems) {
            $flags = 'Delegate,CanViewPrivateItems'
        }
    }
}

process {
    foreach ($owner in $Mailbox) {
        $calendar = @(Get-MailboxFolderStatistics -Identity $owner -FolderScope Calendar |
            Where-Object { $_.FolderType -eq 'Calendar' })
        if ($calendar.Count -ne 1) {
            Write-Warning "No default calendar found for $owner; skipped."
            continue
        }
        $folder = '{0}:\{1}' -f $owner, $calendar[0].Name

        $permission = @{ Identity = $folder; User = $ServiceAccount; AccessRights = 'Editor' }
        if ($flags) {
            $permission.SharingPermissionFlags = $flags
        }
        $current = @(Get-MailboxFolderPermission -Identity $folder -User $ServiceAccount -ErrorAction SilentlyContinue)
        if ($current.Count -gt 0) {
            if ($PSCmdlet.ShouldProcess($folder, "Set the permission of $ServiceAccount to Editor")) {
                Set-MailboxFolderPermission @permission
            }
        }
        elseif ($PSCmdlet.ShouldProcess($folder, "Give $ServiceAccount the Editor permission")) {
            Add-MailboxFolderPermission @permission
        }

        if ($GrantSendOnBehalf -and $PSCmdlet.ShouldProcess($owner, "Let $ServiceAccount send on behalf of the mailbox")) {
            Set-Mailbox -Identity $owner -GrantSendOnBehalfTo @{ Add = $ServiceAccount }
        }
    }
}
