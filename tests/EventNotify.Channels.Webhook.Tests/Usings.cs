global using EventNotify.Webhooks.Tests.Infrastructure;
global using Microsoft.Extensions.DependencyInjection;
