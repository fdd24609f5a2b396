#Requires -Version 5.1
<#
.SYNOPSIS
Makes sure EWS is on for the organisation or for mailboxes, and that its allow lists admit ews-pipeline.

.DESCRIPTION
EWS can be off for the organisation (Set-OrganizationConfig -EwsEnabled) or for a mailbox
(Set-CASMailbox -EwsEnabled), and restricted to listed applications. Any of these refuses the
pipeline's requests, which it reports as ACCESS_DENIED or EWS_UNAVAILABLE.

-Organization sets EwsEnabled to $true for the organisation. In Exchange Online it also needs
-AllowedAppId: from October 2026 Exchange Online admits, with EwsEnabled $true, only the
applications in EwsAllowedAppIDs. The script adds the ids given to the ones already listed; list
every application that still needs EWS, not only the pipeline's.

-Mailbox sets EwsEnabled to $true on each mailbox that does not have it (Set-CASMailbox).

In both cases, where an allow list by user agent is enforced (EwsApplicationAccessPolicy
EnforceAllowList), the pattern in -UserAgentPattern is added to EwsAllowList. The pipeline sends
exchangelib's User-Agent ("exchangelib/<version> (python-requests/<version>)"), so the default
pattern is 'exchangelib/*'. A block list (EnforceBlockList) that matches it is reported, not edited.

.PARAMETER Organization
Change the organisation's settings (Set-OrganizationConfig).

.PARAMETER AllowedAppId
Exchange Online: application (client) ids to add to EwsAllowedAppIDs, the pipeline's among them.

.PARAMETER Mailbox
Mailboxes to change (Set-CASMailbox); also taken from the pipeline (Get-Mailbox output).

.PARAMETER UserAgentPattern
The EwsAllowList entry that admits the pipeline's requests.

.EXAMPLE
.\Enable-EwsAccess.ps1 -Organization -AllowedAppId '11111111-2222-3333-4444-555555555555'

Exchange Online: turns EWS on for the organisation and adds the pipeline's application to its allow list.

.EXAMPLE
.\Enable-EwsAccess.ps1 -Mailbox 'svc-ews@corp.example', 'alice@corp.example' -WhatIf

Shows which of the two mailboxes would get EWS turned on.

.NOTES
Runs in: Exchange Server, Exchange Online
Guide: CHECKLIST.md

.LINK
https://learn.microsoft.com/exchange/client-developer/exchange-web-services/how-to-control-access-to-ews-in-exchange

.LINK
https://learn.microsoft.com/powershell/module/exchange/set-organizationconfig
#>
[CmdletBinding(SupportsShouldProcess, DefaultParameterSetName = 'Mailbox')]
param(
    [Parameter(Mandatory, ParameterSetName = 'Organization')]
    [switch]$Organization,

    [Parameter(ParameterSetName = 'Organization')]
    [ValidateNotNullOrEmpty()]
    [guid[]]$AllowedAppId,

    [Parameter(Mandatory, ParameterSetName = 'Mailbox', ValueFromPipeline, ValueFromPipelineByPropertyName)]
    [Alias('PrimarySmtpAddress')]
    [ValidateNotNullOrEmpty()]
    [string[]]$Mailbox,

    [ValidateNotNullOrEmpty()]
    [string]$UserAgentPattern = 'exchangelib/*'
)

begin {
    $ErrorActionPreference = 'Stop'
    $setOrganization = Get-Command -Name Set-OrganizationConfig -ErrorAction SilentlyContinue
    if (-not $setOrganization) {
        throw 'Set-OrganizationConfig is not available: run this in the Exchange Management Shell, or after Connect-ExchangeOnline.'
    }
    # What exchangelib sends, for checking block lists (wildcards match the whole string).
    $sampleUserAgent = 'exchangelib/5.6.0 (python-requests/2.32.3)'
}

process {
    if ($PSCmdlet.ParameterSetName -eq 'Organization') {
        $exchangeOnline = $setOrganization.Parameters.ContainsKey('EwsAllowedAppIDs')
        if ($exchangeOnline -and -not $AllowedAppId) {
            throw 'In Exchange Online pass -AllowedAppId: with EwsEnabled $true only the applications in EwsAllowedAppIDs may use EWS.'
        }
        $readConfig = @{}
        if ((Get-Command -Name Get-OrganizationConfig).Parameters.ContainsKey('RetrieveEwsOperationAccessPolicy')) {
            $readConfig.RetrieveEwsOperationAccessPolicy = $true
        }
        $config = Get-OrganizationConfig @readConfig

        $organizationChange = @{}
        if ($config.EwsEnabled -ne $true) {
            $organizationChange.EwsEnabled = $true
        }
        if ($exchangeOnline) {
            $listed = @("$($config.EwsAllowedAppIDs)" -split '[,\s]+' | ForEach-Object { $_.Trim().ToLowerInvariant() } | Where-Object { $_ })
            $wanted = @($listed + @($AllowedAppId | ForEach-Object { $_.ToString() }) | Select-Object -Unique)
            if ($wanted.Count -ne $listed.Count) {
                $organizationChange.EwsEnabled = $true
                $organizationChange.EwsAllowedAppIDs = $wanted -join ','
            }
        }
        if ("$($config.EwsApplicationAccessPolicy)" -eq 'EnforceAllowList' -and @($config.EwsAllowList) -notcontains $UserAgentPattern) {
            $organizationChange.EwsAllowList = @{ Add = $UserAgentPattern }
        }
        if ("$($config.EwsApplicationAccessPolicy)" -eq 'EnforceBlockList') {
            foreach ($blocked in @($config.EwsBlockList)) {
                if ($sampleUserAgent -like $blocked) {
                    Write-Warning "The organisation's EwsBlockList entry '$blocked' blocks the pipeline's User-Agent; remove it."
                }
            }
        }
        if ($organizationChange.Count -eq 0) {
            Write-Verbose 'The organisation already lets ews-pipeline use EWS.'
        }
        elseif ($PSCmdlet.ShouldProcess('the organisation', "Set-OrganizationConfig $($organizationChange.Keys -join ', ')")) {
            Set-OrganizationConfig @organizationChange
        }
        return
    }

    foreach ($identity in $Mailbox) {
        # Keep only an exact match: Microsoft's docs warn that an identity matching nothing can return every mailbox.
        $cas = @(Get-CASMailbox -Identity $identity -ErrorAction SilentlyContinue | Where-Object {
                $names = @($_.Name, $_.SamAccountName, "$($_.Identity)", "$($_.PrimarySmtpAddress)") +
                    @($_.EmailAddresses | ForEach-Object { "$_" -replace '^smtp:', '' })
                $names -contains $identity
            })
        if ($cas.Count -ne 1) {
            Write-Warning "No single mailbox matches $identity; skipped."
            continue
        }
        $mailboxChange = @{}
        if ($cas[0].EwsEnabled -ne $true) {
            $mailboxChange.EwsEnabled = $true
        }
        if ("$($cas[0].EwsApplicationAccessPolicy)" -eq 'EnforceAllowList' -and @($cas[0].EwsAllowList) -notcontains $UserAgentPattern) {
            $mailboxChange.EwsAllowList = @{ Add = $UserAgentPattern }
        }
        if ("$($cas[0].EwsApplicationAccessPolicy)" -eq 'EnforceBlockList') {
            foreach ($blocked in @($cas[0].EwsBlockList)) {
                if ($sampleUserAgent -like $blocked) {
                    Write-Warning "The EwsBlockList entry '$blocked' of $identity blocks the pipeline's User-Agent; remove it."
                }
            }
        }
        if ($mailboxChange.Count -eq 0) {
            Write-Verbose "$identity already lets ews-pipeline use EWS."
        }
        elseif ($PSCmdlet.ShouldProcess($identity, "Set-CASMailbox $($mailboxChange.Keys -join ', ')")) {
            Set-CASMailbox -Identity $identity @mailboxChange
        }
    }
}
