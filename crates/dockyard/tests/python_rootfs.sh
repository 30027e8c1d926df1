#!/usr/bin/env bash
# python_rootfs.sh DIR: Debian's python3 with boto3 (the copy scripts/install-deps.sh
# installed from PyPI) and the shared libraries they load, laid out as a
# container root filesystem, for tests that run boto3 inside a task.
set -euo pipefail
root=$1
py=/usr/bin/python3.11
site=$(python3 -c 'import boto3, os; print(os.path.dirname(os.path.dirname(boto3.__file__)))')
mkdir -p "$root/usr/bin" "$root/usr/lib/python3/dist-packages" "$root/etc"
cp "$py" "$root/usr/bin/python3"
tar -C /usr/lib --exclude='python3.11/test' --exclude='python3.11/idlelib' \
  --exclude='python3.11/tkinter' --exclude='python3.11/ensurepip' \
  --exclude='python3.11/lib2to3' --exclude='__pycache__' -cf - python3.11 | tar -C "$root/usr/lib" -xf -
for p in boto3 botocore s3transfer jmespath dateutil urllib3 six.py; do
  cp -r "$site/$p" "$root/usr/lib/python3/dist-packages/"
done
find "$root/usr/lib/python3/dist-packages" -name __pycache__ -prune -exec rm -rf {} +
# The interpreter's and its extension modules' libraries, and the loader.
for f in "$py" /usr/lib/python3.11/lib-dynload/*.so; do
  ldd "$f" 2>/dev/null | awk '/=> \// {print $3} /^[[:space:]]*\/lib/ {print $1}'
done | sort -u | while read -r lib; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
echo "root:x:0:0:root:/root:/bin/sh" > "$root/etc/passwd"
