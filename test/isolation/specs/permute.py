#!/usr/bin/env python3
"""Every runnable ordering of a race, as isolation-spec permutation lines.

Usage: test/isolation/specs/permute.py [--first STEPS] [--then STEPS] SESSION_STEPS...

Each SESSION_STEPS argument is one session's steps in order, separated by
spaces; a step is NAME or NAME:LOCKS, where LOCKS names the row locks the
step takes (comma-separated), suffixed with '!' when the step is its own
transaction (it releases them when it ends) and with '?' when it takes them
with SKIP LOCKED (a lock another session holds is skipped, never waited for).  A step named *_commit or
*_abort (or suffixed ':end') ends its session's transaction and releases its
locks.  A step whose lock another session holds waits; the tester cannot
issue a further step to a session that waits, so an ordering that does is
left out (it is not a possible history, only a hang).  Steps named *_begin
are kept right before their session's next step: a BEGIN takes no snapshot
and no lock, so where it stands among the other sessions' steps changes
nothing.  --first puts steps before every ordering (a common start), --then appends
steps run after every ordering (the checks).

The spec files list the output of this script where some orderings cannot
run; the command that produced each list is in the comment above it.
"""
import sys


def parse(arg):
    steps = []
    for tok in arg.split():
        name, _, locks = tok.partition(':')
        own = '!' in locks
        skip = '?' in locks
        locks = locks.rstrip('!?')
        end = name.endswith(('_commit', '_abort')) or locks == 'end'
        steps.append((name, set() if end or not locks else set(locks.split(',')), own, end, skip))
    # glue each *_begin to the step after it
    units, pending = [], []
    for s in steps:
        if s[0].endswith('_begin'):
            pending.append(s[0])
            continue
        units.append((pending + [s[0]], s[1], s[2], s[3], s[4]))
        pending = []
    return units


def runnable(order, sessions):
    held = {}          # lock -> session
    waiting = {}       # session -> (locks, own, end)
    mine = {i: set() for i in range(len(sessions))}
    pos = [0] * len(sessions)

    def grant(i, locks, own, end):
        for l in locks:
            held[l] = i
            mine[i].add(l)
        if own or end:
            for l in mine[i]:
                held.pop(l, None)
            mine[i] = set()

    def settle():
        changed = True
        while changed:
            changed = False
            for i, (locks, own, end) in list(waiting.items()):
                if all(held.get(l, i) == i for l in locks):
                    del waiting[i]
                    grant(i, locks, own, end)
                    changed = True

    for i in order:
        if i in waiting:
            return False
        _, locks, own, end, skip = sessions[i][pos[i]]
        pos[i] += 1
        if skip:
            locks = {l for l in locks if held.get(l, i) == i}
        if all(held.get(l, i) == i for l in locks):
            grant(i, locks, own, end)
            settle()
        else:
            waiting[i] = (locks, own, end)
    return not waiting


def orders(counts):
    if not any(counts):
        yield []
        return
    for i, c in enumerate(counts):
        if c:
            counts[i] -= 1
            for rest in orders(counts):
                yield [i] + rest
            counts[i] += 1


def main(argv):
    first, then = [], []
    while argv[:1] in (['--first'], ['--then']):
        if argv[0] == '--first':
            first = argv[1].split()
        else:
            then = argv[1].split()
        argv = argv[2:]
    sessions = [parse(a) for a in argv]
    for order in orders([len(s) for s in sessions]):
        # orders() yields session indexes; the n-th index of a session is its n-th unit
        if not runnable(order, sessions):
            continue
        pos = [0] * len(sessions)
        names = []
        for i in order:
            names += sessions[i][pos[i]][0]
            pos[i] += 1
        print('permutation ' + ' '.join(first + names + then))


if __name__ == '__main__':
    main(sys.argv[1:])
