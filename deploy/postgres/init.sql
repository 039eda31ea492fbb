-- Each service owns its own database.
CREATE DATABASE intake;
CREATE DATABASE scheduler;
CREATE DATABASE notifier;
CREATE DATABASE board;
