"""kazoo_contender.py - a kazoo Lock contender driven by lines on stdin.

Usage: kazoo_contender.py HOSTS PATH IDENTIFIER
Commands: acquire (in the background; prints "acquired NODE CZXID"),
contenders (prints "contenders A,B,..."), release (prints "released"),
quit. Prints "ready" once connected. Used by the zk:// interop tests.
"""
import sys
import threading

from kazoo.client import KazooClient


def say(text):
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def main():
    hosts, path, ident = sys.argv[1:4]
    zk = KazooClient(hosts=hosts, timeout=4.0)
    zk.start(timeout=10)
    lock = zk.Lock(path, ident)

    def acquire():
        lock.acquire()
        stat = zk.exists(path + "/" + lock.node)
        say("acquired %s %d" % (lock.node, stat.czxid))

    say("ready")
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "acquire":
            threading.Thread(target=acquire, daemon=True).start()
        elif cmd == "contenders":
            say("contenders " + ",".join(lock.contenders()))
        elif cmd == "release":
            lock.release()
            say("released")
        elif cmd == "quit":
            break
    zk.stop()
    zk.close()


if __name__ == "__main__":
    main()
