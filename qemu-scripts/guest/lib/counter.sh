# shellcheck shell=dash
# counter.sh: the counter kept in guest RAM, shared by /cgi-bin/counter,
# /cgi-bin/counter-get and the line service on TCP port 8 (sourced by them).
# /run/colokit/counter (tmpfs) holds the value. Updates are serialised by a
# lock directory, since mkdir is atomic and busybox-static has no flock.
COUNTER=/run/colokit/counter

counter_lock() {
	while ! mkdir "$COUNTER.lock" 2>/dev/null; do usleep 1000; done
}

counter_unlock() { rmdir "$COUNTER.lock"; }

# counter_next: increment the counter; the new value is left in $counter
counter_next() {
	counter_lock
	read -r counter <"$COUNTER"
	counter=$((counter + 1))
	echo "$counter" >"$COUNTER"
	counter_unlock
}

# counter_get: the current value into $counter, without incrementing
counter_get() {
	counter_lock
	read -r counter <"$COUNTER"
	counter_unlock
}

# cgi_text BODY: a text/plain CGI answer of BODY and a newline, with fixed
# headers only (busybox httpd puts "HTTP/1.1 200 OK" in front)
cgi_text() {
	printf 'Content-Type: text/plain\r\nContent-Length: %d\r\nCache-Control: no-store\r\n\r\n%s\n' \
	    $((${#1} + 1)) "$1"
}
