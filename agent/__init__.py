"""dcagent: data-centre SOPs as code on top of NetBox and Zabbix."""

__version__ = "0.1.0"
