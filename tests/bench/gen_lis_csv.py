#!/usr/bin/env python3
"""Writes a Lync subnet CSV of N rows to stdout. With --shared, rows share 20,000 addresses
(floors and wings of buildings, as a real campus does); without, every row has its own address,
so an import creates one location per row."""
import sys

n = int(sys.argv[1])
shared = "--shared" in sys.argv[2:]
w = sys.stdout.write
w("Subnet,Description,Location,CompanyName,HouseNumber,HouseNumberSuffix,PreDirectional,StreetName,"
  "StreetSuffix,PostDirectional,City,State,PostalCode,Country\n")
for i in range(n):
    v = i * 4  # /30 networks laid end to end through 10.0.0.0/8
    net = f"10.{(v >> 16) & 255}.{(v >> 8) & 255}.{v & 255}/30"
    if shared:
        w(f"{net},net {i},Floor {i % 40} Wing {i % 4},Contoso,{(i // 160) % 500 + 1},,N,Main,St,,Redmond,WA,98052,US\n")
    else:
        w(f"{net},net {i},Floor {i % 40} Room {i % 1000},Contoso,{i // 1000 + 1},,N,Main {i % 97},St,,Redmond,WA,98052,US\n")
