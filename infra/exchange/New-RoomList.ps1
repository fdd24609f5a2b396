#Requires -Version 5.1
<#
.SYNOPSIS
Creates a room list (or reuses one) and adds room mailboxes to it, for the list_rooms action.

.DESCRIPTION
The pipeline's list_rooms action reads room lists with EWS GetRoomLists and their rooms with
GetRooms. Exchange returns as room lists only distribution groups created with -RoomList, and as their
rooms only members that are room mailboxes. This script creates the list with
New-DistributionGroup -RoomList when there is none by that name, and adds each room that is not a
member yet with Add-DistributionGroupMember. A mailbox that is not a room mailbox is skipped with a
warning.

.PARAMETER Name
The room list's name, for example a building.

.PARAMETER Room
The room mailboxes to add (name, alias or address).

.PARAMETER PrimarySmtpAddress
The room list's address, when Exchange should not derive it from the name.

.EXAMPLE
.\New-RoomList.ps1 -Name 'Building 1' -Room 'room-1.01@corp.example', 'room-1.02@corp.example'

Creates the room list Building 1 with two rooms (or adds them to the existing list).

.EXAMPLE
.\New-RoomList.ps1 -Name 'Building 2' -PrimarySmtpAddress 'building-2@corp.example' -Room 'room-2.01@corp.example' -WhatIf

Shows what it would create and add.

.NOTES
Runs in: Exchange Server, Exchange Online
Guide: rooms.md

.LINK
https://learn.microsoft.com/powershell/module/exchange/new-distributiongroup

.LINK
https://learn.microsoft.com/powershell/module/exchange/add-distributiongroupmember
#>
[CmdletBinding(SupportsShouldProcess)]
param(
    [Parameter(Mandatory)]
    [ValidateLength(1, 64)]
    [string]$Name,

    [Parameter(Mandatory)]
    [ValidateNotNullOrEmpty()]
    [string[]]$Room,

    [ValidateNotNullOrEmpty()]
    [string]$PrimarySmtpAddress
)

$ErrorActionPreference = 'Stop'
if (-not (Get-Command -Name New-DistributionGroup -ErrorAction SilentlyContinue)) {
    throw 'New-DistributionGroup is not available: run this in the Exchange Management Shell, or after Connect-ExchangeOnline.'
}

# Keep only an exact match: Microsoft's docs warn that an identity matching nothing can return every group.
$list = @(Get-DistributionGroup -Identity $Name -ErrorAction SilentlyContinue | Where-Object { $_.Name -eq $Name })
$members = @()
if ($list.Count -gt 0) {
    if ("$($list[0].RecipientTypeDetails)" -ne 'RoomList') {
        throw "$Name exists and is not a room list (it is a $($list[0].RecipientTypeDetails)); pick another name."
    }
    $members = @(Get-DistributionGroupMember -Identity $Name -ResultSize Unlimited |
        ForEach-Object { "$($_.PrimarySmtpAddress)".ToLowerInvariant() })
}
else {
    $newList = @{ Name = $Name; RoomList = $true }
    if ($PrimarySmtpAddress) {
        $newList.PrimarySmtpAddress = $PrimarySmtpAddress
    }
    if ($PSCmdlet.ShouldProcess($Name, 'Create the room list')) {
        New-DistributionGroup @newList | Out-Null
    }
}

foreach ($roomId in $Room) {
    $mailbox = @(Get-Mailbox -Identity $roomId -ErrorAction SilentlyContinue | Where-Object {
            $names = @($_.Name, $_.Alias, "$($_.Identity)", "$($_.PrimarySmtpAddress)") +
                @($_.EmailAddresses | ForEach-Object { "$_" -replace '^smtp:', '' })
            $names -contains $roomId
        })
    if ($mailbox.Count -ne 1 -or "$($mailbox[0].RecipientTypeDetails)" -ne 'RoomMailbox') {
        Write-Warning "$roomId is not one room mailbox; skipped (GetRooms lists only room mailboxes)."
        continue
    }
    $address = "$($mailbox[0].PrimarySmtpAddress)".ToLowerInvariant()
    if ($members -contains $address) {
        Write-Verbose "$address is in $Name already."
        continue
    }
    if ($PSCmdlet.ShouldProcess($Name, "Add the room $address")) {
        Add-DistributionGroupMember -Identity $Name -Member $address
    }
}
