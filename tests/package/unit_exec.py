#!/usr/bin/env python3
"""Starts a systemd service's main process by hand, the way systemd would, where systemd is not PID 1.

  unit_exec.py start UNIT_FILE --log FILE --notify SOCKET [--watchdog-usec N]
      Reads [Service] of UNIT_FILE: ExecStart, User, Group, Environment=, EnvironmentFile=, WorkingDirectory=,
      UMask=, StateDirectory= (+ StateDirectoryMode=), WatchdogSec=. Creates the state directory owned by the
      user, builds the environment systemd gives a service (PATH, HOME/USER/LOGNAME/SHELL of the user, the unit's
      Environment= then its EnvironmentFile=, INVOCATION_ID, JOURNAL_STREAM naming the log file as the journal's
      stream, NOTIFY_SOCKET, WATCHDOG_USEC/WATCHDOG_PID), then execs ExecStart through setpriv as the user with no
      new privileges and no capabilities, so that the PID stays the service's main PID. Not reproduced: the
      sandboxing options (namespaces, seccomp), which need systemd. --watchdog-usec replaces WatchdogSec's
      interval (tests want pings within seconds).
  unit_exec.py listen SOCKET OUT
      Receives sd_notify datagrams on the Unix socket SOCKET and appends each to OUT as a JSON line
      {"t": unix seconds, "msg": "..."} until killed.
"""
import argparse
import json
import os
import pwd
import grp
import shlex
import socket
import sys
import time
import uuid


def parse_unit(path):
    service, section = {}, None
    lines = open(path).read().replace("\\\n", " ").splitlines()
    for line in lines:
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        if section != "Service" or "=" not in line:
            continue
        key, value = line.split("=", 1)
        service.setdefault(key.strip(), []).append(value.strip())
    return service


def seconds(text):
    units = {"us": 1e-6, "ms": 1e-3, "s": 1, "min": 60, "h": 3600}
    for u in sorted(units, key=len, reverse=True):
        if text.endswith(u):
            return float(text[: -len(u)]) * units[u]
    return float(text)


def env_file(path):
    out = {}
    for line in open(path):
        line = line.strip()
        if not line or line[0] in "#;" or "=" not in line:
            continue
        k, v = line.split("=", 1)
        v = v.strip()
        if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
            v = v[1:-1]
        out[k.strip()] = v
    return out


def start(args):
    svc = parse_unit(args.unit)
    user = svc["User"][-1]
    group = svc.get("Group", [user])[-1]
    pw = pwd.getpwnam(user)
    gid = grp.getgrnam(group).gr_gid
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": pw.pw_dir,
           "USER": user, "LOGNAME": user, "SHELL": pw.pw_shell, "INVOCATION_ID": uuid.uuid4().hex}
    for line in svc.get("Environment", []):
        for assignment in shlex.split(line):
            k, v = assignment.split("=", 1)
            env[k] = v
    for f in svc.get("EnvironmentFile", []):
        optional = f.startswith("-")
        f = f.lstrip("-")
        if os.path.exists(f):
            env.update(env_file(f))
        elif not optional:
            sys.exit(f"EnvironmentFile {f} is missing")
    for d in svc.get("StateDirectory", []):
        path = os.path.join("/var/lib", d)
        mode = int(svc.get("StateDirectoryMode", ["0755"])[-1], 8)
        os.makedirs(path, exist_ok=True)
        os.chown(path, pw.pw_uid, gid)
        os.chmod(path, mode)
        env["STATE_DIRECTORY"] = path
    log = os.open(args.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    st = os.fstat(log)
    env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
    env["NOTIFY_SOCKET"] = args.notify
    watchdog = args.watchdog_usec or (int(seconds(svc["WatchdogSec"][-1]) * 1e6) if "WatchdogSec" in svc else 0)
    if watchdog:
        env["WATCHDOG_USEC"] = str(watchdog)
        env["WATCHDOG_PID"] = str(os.getpid())  # exec keeps the PID
    os.chdir(svc.get("WorkingDirectory", ["/"])[-1])
    os.umask(int(svc.get("UMask", ["0022"])[-1], 8))
    os.dup2(log, 1)
    os.dup2(log, 2)
    devnull = os.open("/dev/null", os.O_RDONLY)
    os.dup2(devnull, 0)
    argv = shlex.split(svc["ExecStart"][-1].lstrip("-@:+!"))
    os.execve("/usr/bin/setpriv",
              ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={gid}", "--init-groups", "--no-new-privs",
               "--inh-caps=-all", "--bounding-set=-all", "--"] + argv, env)


def listen(args):
    if os.path.exists(args.socket):
        os.unlink(args.socket)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(args.socket)
    os.chmod(args.socket, 0o777)  # the service user sends here
    with open(args.out, "a") as out:
        while True:
            msg = s.recv(4096).decode()
            out.write(json.dumps({"t": time.time(), "msg": msg}) + "\n")
            out.flush()


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("start")
    a.add_argument("unit")
    a.add_argument("--log", required=True)
    a.add_argument("--notify", required=True)
    a.add_argument("--watchdog-usec", type=int, default=0)
    b = sub.add_parser("listen")
    b.add_argument("socket")
    b.add_argument("out")
    args = p.parse_args()
    start(args) if args.cmd == "start" else listen(args)


if __name__ == "__main__":
    main()
