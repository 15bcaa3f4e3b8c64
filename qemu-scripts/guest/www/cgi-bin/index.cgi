#!/bin/sh
# shellcheck shell=dash
# /cgi-bin/index.cgi: busybox httpd's answer to "/" (an index.html would go
# through static-cgi, and busybox 1.35 then fails on the directory URL)
PATH=/bin
body='<!DOCTYPE html>
<html>
<head><title>colokit guest</title></head>
<body>
<h1>colokit guest</h1>
<ul>
<li><a href="/det.html">/det.html</a>: a deterministic page</li>
<li><a href="/1mb.bin">/1mb.bin</a>: 1 MiB of deterministic bytes</li>
<li><a href="/cgi-bin/counter">/cgi-bin/counter</a>: increments the counter in RAM</li>
<li><a href="/cgi-bin/counter-get">/cgi-bin/counter-get</a>: reads it</li>
<li><a href="/cgi-bin/differ">/cgi-bin/differ</a>: differs between the VMs</li>
</ul>
<p>TCP port 7: echo. TCP port 8: each line increments the counter, "get" reads it.</p>
</body>
</html>'
printf 'Content-Type: text/html\r\nContent-Length: %d\r\n\r\n%s\n' $((${#body} + 1)) "$body"
