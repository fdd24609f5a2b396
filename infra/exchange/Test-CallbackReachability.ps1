#Requires -Version 5.1
<#
.SYNOPSIS
From an Exchange server: checks that the ews-pipeline callback URL answers, and that TLS 1.2 is on.

.DESCRIPTION
Exchange delivers push notifications by posting to the pipeline's callback URL over HTTPS. When it
cannot reach it, nothing reports an error: subscriptions go stale and are renewed every few minutes.
Run this on each Exchange server that hosts mailboxes (where notifications are sent from). It opens
GET <CallbackBaseUrl>/check/<IntegrationId>, the connectivity check the callbacks function serves,
and expects 200 "You have successfully reached ews-pipeline, integration is: <IntegrationId>".
A 404 means the URL is reached but the integration is not in the results table.

It also reads the server's TLS settings: TLS 1.2 must be enabled for Schannel clients, and .NET
Framework must use the system's TLS versions (SystemDefaultTlsVersions) and strong cryptography
(SchUseStrongCrypto), because the callback endpoint (an API Gateway HTTP API) accepts only TLS 1.2
and later. Windows PowerShell uses the same .NET Framework settings as Exchange, so a TLS failure
here is a TLS failure for the notifications too.

.PARAMETER CallbackBaseUrl
The stack's CallbackBaseUrl output (PIPELINE_CALLBACK_URL), e.g. https://abc123.execute-api.eu-west-1.amazonaws.com.

.PARAMETER IntegrationId
The integration to check (integration_id in the settings).

.PARAMETER Proxy
An HTTP proxy to go through, when Exchange's outbound traffic must use one.

.PARAMETER TimeoutSeconds
How long to wait for the answer.

.EXAMPLE
.\Test-CallbackReachability.ps1 -CallbackBaseUrl 'https://abc123.execute-api.eu-west-1.amazonaws.com' -IntegrationId 'acme'

Checks the callback URL and the TLS settings from this server.

.EXAMPLE
.\Test-CallbackReachability.ps1 -CallbackBaseUrl 'https://abc123.execute-api.eu-west-1.amazonaws.com' -IntegrationId 'acme' -Proxy 'http://proxy.corp.example:8080' -Verbose

The same through a proxy, printing the TLS protocols this session offers.

.NOTES
Runs in: Exchange Server
Guide: CHECKLIST.md

.LINK
https://learn.microsoft.com/exchange/exchange-tls-configuration
#>
[CmdletBinding(SupportsShouldProcess)]
param(
    [Parameter(Mandatory)]
    [uri]$CallbackBaseUrl,

    [Parameter(Mandatory)]
    [ValidatePattern('^[A-Za-z0-9._-]{1,128}$')]
    [string]$IntegrationId,

    [uri]$Proxy,

    [ValidateRange(1, 300)]
    [int]$TimeoutSeconds = 15
)

$ErrorActionPreference = 'Stop'
if (-not $CallbackBaseUrl.IsAbsoluteUri) {
    throw "$CallbackBaseUrl is not an absolute URL: pass the stack's CallbackBaseUrl output."
}
if ($CallbackBaseUrl.Scheme -ne 'https') {
    Write-Warning "$CallbackBaseUrl is not an https:// URL; Exchange posts notifications over HTTPS."
}

$tlsClient = 'HKLM:\SYSTEM\CurrentControlSet\Control\SecurityProviders\SCHANNEL\Protocols\TLS 1.2\Client'
if (Test-Path -Path $tlsClient) {
    $schannel = Get-ItemProperty -Path $tlsClient
    if ($schannel.Enabled -eq 0 -or $schannel.DisabledByDefault -eq 1) {
        Write-Warning "TLS 1.2 is disabled for Schannel clients ($tlsClient): enable it (Enabled 1, DisabledByDefault 0)."
    }
}
foreach ($netFramework in @('HKLM:\SOFTWARE\Microsoft\.NETFramework\v4.0.30319', 'HKLM:\SOFTWARE\Wow6432Node\Microsoft\.NETFramework\v4.0.30319')) {
    $settings = Get-ItemProperty -Path $netFramework -ErrorAction SilentlyContinue
    foreach ($value in @('SystemDefaultTlsVersions', 'SchUseStrongCrypto')) {
        if (-not $settings -or $settings.$value -ne 1) {
            Write-Warning "$value is not 1 under $netFramework, so .NET Framework may not offer TLS 1.2."
        }
    }
}
Write-Verbose "This session offers: $([Net.ServicePointManager]::SecurityProtocol)"

$url = '{0}/check/{1}' -f $CallbackBaseUrl.AbsoluteUri.TrimEnd('/'), $IntegrationId
if (-not $PSCmdlet.ShouldProcess($url, 'GET')) {
    return
}
$request = @{ Uri = $url; Method = 'Get'; UseBasicParsing = $true; TimeoutSec = $TimeoutSeconds }
if ($Proxy) {
    $request.Proxy = $Proxy
}
try {
    $response = Invoke-WebRequest @request
}
catch {
    $status = $null
    if ($_.Exception.Response) {
        $status = [int]$_.Exception.Response.StatusCode
    }
    if ($status -eq 404) {
        throw "$url was reached, but ews-pipeline does not know the integration $IntegrationId (check the id, and that the integration was added to this stack's table)."
    }
    if ($status) {
        throw "$url answered HTTP $status, not ews-pipeline's check: a proxy or TLS inspection may be answering instead."
    }
    throw "Cannot reach ${url}: $($_.Exception.Message). Allow outbound HTTPS (443) from this server to the callback host, through the proxy if there is one."
}

$expected = "You have successfully reached ews-pipeline, integration is: $IntegrationId"
if ($response.StatusCode -ne 200 -or "$($response.Content)".Trim() -ne $expected) {
    throw "$url answered $($response.StatusCode) '$($response.Content)', not '$expected'."
}
[pscustomobject]@{ Url = $url; StatusCode = $response.StatusCode; Answer = $expected }
