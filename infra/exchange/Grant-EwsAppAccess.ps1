#Requires -Version 5.1
<#
.SYNOPSIS
Exchange Online: grants the pipeline's Entra application EWS access to the mailboxes in one scope.

.DESCRIPTION
Exchange Online retired the ApplicationImpersonation role; an application acting as users with
app-only OAuth (auth_type oauth2) is granted access with RBAC for Applications instead:

1. New-ServicePrincipal: Exchange's pointer to the application's service principal in Entra ID;
2. New-ManagementScope: the mailboxes the application may act as;
3. New-ManagementRoleAssignment -App: one assignment per role, limited to that scope
   (-CustomResourceScope). "Application EWS.AccessAsApp" is the role for EWS; add
   "Application Calendars.ReadWrite" for the Microsoft Graph backend.

With oauth2 the pipeline impersonates for every connection method (an app-only token has no mailbox
of its own), so the scope holds: the users (impersonation, delegate), the schedulers as well
(post_as_scheduler), or the service mailbox alone (dedicated).

Existing pieces are reused. The role assignment is the grant: don't also consent to
full_access_as_app in Entra ID, which covers every mailbox whatever this scope says.

.PARAMETER AppId
The application (client) id: client_id in the integration's secret.

.PARAMETER ServicePrincipalObjectId
The object id of the application's service principal (Entra admin center, Enterprise applications),
not the object id of the app registration.

.PARAMETER ScopeName
The management scope to create or reuse.

.PARAMETER MemberOfGroup
A mail-enabled security group or distribution group whose direct members the application may act as.
Entra-only security groups do not work in management scopes.

.PARAMETER RecipientFilter
An OPATH recipient filter instead of a group, for example "PrimarySmtpAddress -eq 'bookings@corp.example'".

.PARAMETER Role
The application roles to assign: 'Application EWS.AccessAsApp' (the default) and/or
'Application Calendars.ReadWrite'.

.PARAMETER DisplayName
The service principal's display name in Exchange Online, when the script creates it.

.PARAMETER TestMailbox
A mailbox to check afterwards with Test-ServicePrincipalAuthorization (InScope should be True).

.EXAMPLE
.\Grant-EwsAppAccess.ps1 -AppId '11111111-2222-3333-4444-555555555555' -ServicePrincipalObjectId '66666666-7777-8888-9999-000000000000' -ScopeName 'ews-pipeline users' -MemberOfGroup 'Interviewers' -TestMailbox 'alice@corp.example'

Lets the application act as the members of Interviewers over EWS, then checks alice's mailbox.

.EXAMPLE
.\Grant-EwsAppAccess.ps1 -AppId '11111111-2222-3333-4444-555555555555' -ServicePrincipalObjectId '66666666-7777-8888-9999-000000000000' -ScopeName 'ews-pipeline bookings mailbox' -RecipientFilter "PrimarySmtpAddress -eq 'bookings@corp.example'" -WhatIf

For the dedicated connection method: shows what it would grant on the service mailbox alone.

.NOTES
Runs in: Exchange Online
Guide: impersonation.md

.LINK
https://learn.microsoft.com/exchange/permissions-exo/application-rbac

.LINK
https://learn.microsoft.com/powershell/module/exchange/new-serviceprincipal
#>
[CmdletBinding(SupportsShouldProcess, DefaultParameterSetName = 'Group')]
param(
    [Parameter(Mandatory)]
    [guid]$AppId,

    [Parameter(Mandatory)]
    [guid]$ServicePrincipalObjectId,

    [Parameter(Mandatory)]
    [ValidateNotNullOrEmpty()]
    [string]$ScopeName,

    [Parameter(Mandatory, ParameterSetName = 'Group')]
    [ValidateNotNullOrEmpty()]
    [string]$MemberOfGroup,

    [Parameter(Mandatory, ParameterSetName = 'Filter')]
    [ValidateNotNullOrEmpty()]
    [string]$RecipientFilter,

    [ValidateSet('Application EWS.AccessAsApp', 'Application Calendars.ReadWrite')]
    [string[]]$Role = @('Application EWS.AccessAsApp'),

    [ValidateNotNullOrEmpty()]
    [string]$DisplayName = 'ews-pipeline',

    [ValidateNotNullOrEmpty()]
    [string]$TestMailbox
)

$ErrorActionPreference = 'Stop'
if (-not (Get-Command -Name New-ServicePrincipal -ErrorAction SilentlyContinue)) {
    throw 'New-ServicePrincipal is not available: run Connect-ExchangeOnline first. On premises, use Grant-EwsImpersonation.ps1.'
}
$appIdText = $AppId.ToString()
$objectIdText = $ServicePrincipalObjectId.ToString()

# Microsoft's docs warn that an identity matching nothing can return every object: keep exact matches.
$principal = @(Get-ServicePrincipal -Identity $appIdText -ErrorAction SilentlyContinue | Where-Object { "$($_.AppId)" -eq $appIdText })
if ($principal.Count -gt 0) {
    Write-Verbose "Using the existing service principal $($principal[0].DisplayName) for $appIdText."
    if ($principal[0].ObjectId) {
        $objectIdText = "$($principal[0].ObjectId)"
    }
}
elseif ($PSCmdlet.ShouldProcess($appIdText, 'Create the Exchange Online service principal')) {
    New-ServicePrincipal -AppId $appIdText -ObjectId $objectIdText -DisplayName $DisplayName | Out-Null
}

$filter = $RecipientFilter
if ($PSCmdlet.ParameterSetName -eq 'Group') {
    $group = @(Get-Group -Identity $MemberOfGroup | Where-Object {
            $MemberOfGroup -in @($_.Name, $_.DisplayName, "$($_.WindowsEmailAddress)", "$($_.DistinguishedName)")
        })
    if ($group.Count -ne 1) {
        throw "Expected one group named $MemberOfGroup, found $($group.Count)."
    }
    $distinguishedName = "$($group[0].DistinguishedName)" -replace "'", "''"
    $filter = "MemberOfGroup -eq '$distinguishedName'"
}

$scope = @(Get-ManagementScope -Identity $ScopeName -ErrorAction SilentlyContinue | Where-Object { $_.Name -eq $ScopeName })
if ($scope.Count -gt 0) {
    Write-Verbose "Using the existing management scope $ScopeName (filter: $($scope[0].RecipientFilter))."
}
elseif ($PSCmdlet.ShouldProcess($ScopeName, "Create a management scope with the filter $filter")) {
    New-ManagementScope -Name $ScopeName -RecipientRestrictionFilter $filter | Out-Null
}

foreach ($roleName in $Role) {
    $assignmentName = "ews-pipeline $($roleName -replace '^Application ', '') $ScopeName"
    if ($assignmentName.Length -gt 64) {
        $assignmentName = $assignmentName.Substring(0, 64)
    }
    $assigned = @(Get-ManagementRoleAssignment -Identity $assignmentName -ErrorAction SilentlyContinue |
        Where-Object { $_.Name -eq $assignmentName })
    if ($assigned.Count -gt 0) {
        Write-Verbose "The role assignment $assignmentName exists already."
        continue
    }
    if ($PSCmdlet.ShouldProcess($ScopeName, "Assign '$roleName' to the application $appIdText")) {
        New-ManagementRoleAssignment -Name $assignmentName -Role $roleName -App $objectIdText -CustomResourceScope $ScopeName
    }
}

if ($TestMailbox -and -not $WhatIfPreference) {
    Test-ServicePrincipalAuthorization -Identity $appIdText -Resource $TestMailbox
}
