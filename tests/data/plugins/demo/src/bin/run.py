#!/usr/bin/env python3
print("demo running")
