#Requires -Version 5.1
<#
.SYNOPSIS
On-premises Exchange: lets the ews-pipeline service account impersonate the mailboxes in one scope.

.DESCRIPTION
Creates a recipient management scope (New-ManagementScope -RecipientRestrictionFilter) and assigns
the ApplicationImpersonation role to the service account, limited to that scope
(New-ManagementRoleAssignment -CustomRecipientWriteScope). This is what the impersonation
connection method with auth_type basic or ntlm needs; without it EWS answers
ErrorImpersonateUserDenied, which the pipeline reports as IMPERSONATION_DENIED.

The scope is either the direct members of a group (-MemberOfGroup: a distribution group or
mail-enabled security group; Exchange filters on its distinguished name) or an OPATH filter of your
own (-RecipientFilter). A scope or assignment that exists already is left as it is.

Exchange Online retired ApplicationImpersonation: there, use Grant-EwsAppAccess.ps1. The script
stops when it finds itself in an Exchange Online session.

.PARAMETER ServiceAccount
The account the pipeline logs on as (the service_mailbox's user).

.PARAMETER ScopeName
The management scope to create or reuse.

.PARAMETER MemberOfGroup
A group whose direct members the service account may impersonate. Nested groups are not expanded.

.PARAMETER RecipientFilter
An OPATH recipient filter instead of a group, for example "Department -eq 'Recruiting'".

.PARAMETER AssignmentName
The role assignment's name (at most 64 characters); by default derived from the scope's name.

.EXAMPLE
.\Grant-EwsImpersonation.ps1 -ServiceAccount 'svc-ews@corp.example' -ScopeName 'ews-pipeline users' -MemberOfGroup 'Interviewers'

Lets svc-ews impersonate the members of the Interviewers group.

.EXAMPLE
.\Grant-EwsImpersonation.ps1 -ServiceAccount 'svc-ews@corp.example' -ScopeName 'ews-pipeline recruiting' -RecipientFilter "Department -eq 'Recruiting'" -WhatIf

Shows the scope and the role assignment it would create for everyone in the Recruiting department.

.NOTES
Runs in: Exchange Server
Guide: impersonation.md

.LINK
https://learn.microsoft.com/exchange/client-developer/exchange-web-services/how-to-configure-impersonation

.LINK
https://learn.microsoft.com/powershell/module/exchange/new-managementroleassignment
#>
[CmdletBinding(SupportsShouldProcess, DefaultParameterSetName = 'Group')]
param(
    [Parameter(Mandatory)]
    [ValidateNotNullOrEmpty()]
    [string]$ServiceAccount,

    [Parameter(Mandatory)]
    [ValidateNotNullOrEmpty()]
    [string]$ScopeName,

    [Parameter(Mandatory, ParameterSetName = 'Group')]
    [ValidateNotNullOrEmpty()]
    [string]$MemberOfGroup,

    [Parameter(Mandatory, ParameterSetName = 'Filter')]
    [ValidateNotNullOrEmpty()]
    [string]$RecipientFilter,

    [ValidateLength(1, 64)]
    [string]$AssignmentName
)

$ErrorActionPreference = 'Stop'
if (Get-Command -Name New-ServicePrincipal -ErrorAction SilentlyContinue) {
    throw 'This is an Exchange Online session, where ApplicationImpersonation is retired: use Grant-EwsAppAccess.ps1.'
}
if (-not (Get-Command -Name New-ManagementRoleAssignment -ErrorAction SilentlyContinue)) {
    throw 'New-ManagementRoleAssignment is not available: run this in the Exchange Management Shell as a member of Organization Management.'
}

$filter = $RecipientFilter
if ($PSCmdlet.ParameterSetName -eq 'Group') {
    # Keep only an exact match: Microsoft's docs warn that an identity matching nothing can return every group.
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

# A local name: assigning to $AssignmentName would run its ValidateLength again before the cut.
$roleAssignmentName = $AssignmentName
if (-not $roleAssignmentName) {
    $roleAssignmentName = "ews-pipeline impersonation $ScopeName"
    if ($roleAssignmentName.Length -gt 64) {
        $roleAssignmentName = $roleAssignmentName.Substring(0, 64)
    }
}
$assigned = @(Get-ManagementRoleAssignment -Role ApplicationImpersonation -RoleAssignee $ServiceAccount -ErrorAction SilentlyContinue |
    Where-Object { "$($_.CustomRecipientWriteScope)" -eq $ScopeName })
if ($assigned.Count -gt 0) {
    Write-Warning "$ServiceAccount already has ApplicationImpersonation over $ScopeName ($($assigned[0].Name)); nothing was changed."
    return $assigned[0]
}
if ($PSCmdlet.ShouldProcess($ServiceAccount, "Assign ApplicationImpersonation limited to the scope $ScopeName")) {
    New-ManagementRoleAssignment -Name $roleAssignmentName -Role ApplicationImpersonation -User $ServiceAccount -CustomRecipientWriteScope $ScopeName
}
