#Requires -Version 5.1
<#
.SYNOPSIS
Makes room mailboxes accept meeting requests on their own (AutomateProcessing AutoAccept).

.DESCRIPTION
A booking that invites a room (send_invite) is only booked in the room's calendar once the room
accepts it. With AutomateProcessing AutoAccept the resource booking assistant accepts a request when
the room is free and declines it when the room is busy; the room's answer reaches the booking like
any attendee's (attendee.responded).
On premises, rooms created in PowerShell default to AutoUpdate (requests stay tentative until a
delegate approves them), so run this for them.

-KeepSubject also sets DeleteSubject and AddOrganizerToSubject to $false, so the room's calendar keeps
the meeting's subject rather than the organiser's name; free/busy then shows it where
show_event_titles is on and the caller may see it.

.PARAMETER Room
The room mailboxes (name, alias or address); also taken from the pipeline (Get-Mailbox output).

.PARAMETER KeepSubject
Keep meeting subjects in the room's calendar.

.EXAMPLE
.\Set-RoomAutoAccept.ps1 -Room 'room-1.01@corp.example', 'room-1.02@corp.example'

Turns on automatic acceptance for two rooms.

.EXAMPLE
Get-Mailbox -RecipientTypeDetails RoomMailbox -ResultSize Unlimited | .\Set-RoomAutoAccept.ps1 -KeepSubject -WhatIf

Shows the change it would make on every room mailbox.

.NOTES
Runs in: Exchange Server, Exchange Online
Guide: rooms.md

.LINK
https://learn.microsoft.com/powershell/module/exchange/set-calendarprocessing
#>
[CmdletBinding(SupportsShouldProcess)]
param(
    [Parameter(Mandatory, ValueFromPipeline, ValueFromPipelineByPropertyName)]
    [Alias('PrimarySmtpAddress')]
    [ValidateNotNullOrEmpty()]
    [string[]]$Room,

    [switch]$KeepSubject
)

begin {
    $ErrorActionPreference = 'Stop'
    if (-not (Get-Command -Name Set-CalendarProcessing -ErrorAction SilentlyContinue)) {
        throw 'Set-CalendarProcessing is not available: run this in the Exchange Management Shell, or after Connect-ExchangeOnline.'
    }
}

process {
    foreach ($roomId in $Room) {
        $mailbox = @(Get-Mailbox -Identity $roomId -ErrorAction SilentlyContinue | Where-Object {
                $names = @($_.Name, $_.Alias, "$($_.Identity)", "$($_.PrimarySmtpAddress)") +
                    @($_.EmailAddresses | ForEach-Object { "$_" -replace '^smtp:', '' })
                $names -contains $roomId
            })
        if ($mailbox.Count -ne 1 -or "$($mailbox[0].RecipientTypeDetails)" -ne 'RoomMailbox') {
            Write-Warning "$roomId is not one room mailbox; skipped."
            continue
        }
        $address = "$($mailbox[0].PrimarySmtpAddress)"
        $processing = @{ Identity = $address; AutomateProcessing = 'AutoAccept' }
        if ($KeepSubject) {
            $processing.DeleteSubject = $false
            $processing.AddOrganizerToSubject = $false
        }
        if ($PSCmdlet.ShouldProcess($address, 'Accept meeting requests automatically')) {
            Set-CalendarProcessing @processing
            Get-CalendarProcessing -Identity $address |
                Select-Object -Property 'Identity', 'AutomateProcessing', 'DeleteSubject', 'AddOrganizerToSubject'
        }
    }
}
